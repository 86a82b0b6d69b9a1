#pragma once
// One record per request or tunnel: ids, times per phase, bytes, user, upstream, status,
// Proxy-Status type and why and where it ended (Envoy's StreamInfo, HAProxy's termination
// codes). finish() is the one place that writes the access line and, for failures, the
// diagnostic line; metrics read the same record.

#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/errors/proxy_error.h"

namespace gatehouse::proxy {

// Who ended an exchange (the first letter of its termination code, after HAProxy's).
enum class EndCause : uint8_t {
  Normal,          // '-': completed as the protocol says
  Refused,         // 'P': the proxy answered itself (policy, bad request, auth)
  ClientAbort,     // 'C': the client closed or reset
  ClientTimeout,   // 'c': the client was too slow
  Upstream,        // 'S': the upstream failed, closed or answered garbage
  UpstreamTimeout, // 's': the upstream was too slow
  Resource,        // 'R': a limit of the proxy (connections, memory)
  Shutdown,        // 'K': the proxy stopped
  Internal,        // 'I': a bug or a failed system call
};

struct ExchangeRecord {
  std::string id; // "<worker>.<connection>.<request>"
  // Loop times in ms; 0 where the exchange never got there.
  uint64_t startMs = 0;     // the first byte of the head (or accept, for errors before one)
  uint64_t decidedMs = 0;   // the policy chain finished
  uint64_t connectedMs = 0; // an upstream connection was ready
  uint64_t firstByteMs = 0; // the first response byte went to the client
  uint64_t endMs = 0;
  std::string method;
  std::string target;
  std::string user;        // the authenticated user
  std::string claimedUser; // the user refused credentials named (never authenticated)
  std::string upstreamAddress;
  std::string rule;   // the policy rule that decided, when one did
  std::string parent; // the parent proxy the request went through, when one did
  // A parent's own Proxy-Status members, kept in front of ours on an error it caused.
  std::string upstreamProxyStatus;
  int status = 0;
  uint64_t bytesIn = 0;  // from the client
  uint64_t bytesOut = 0; // to the client
  errors::ProxyError error = errors::ProxyError::None;
  errors::Phase phase = errors::Phase::ReadHead;
  EndCause cause = EndCause::Normal;
  std::string detail;    // why it failed, for the diagnostic line
  bool aborted = false;  // the response was cut (reset or FIN) after it started
  bool finished = false; // finish() ran: the lines are written once

  // Records a failure; the first one wins (a later consequence never hides the cause).
  void fail(errors::ProxyError error, errors::Phase phase, EndCause cause, std::string detail);
  // The user as every line shows it: authenticated, else claimed, else empty.
  std::string_view shownUser() const { return !user.empty() ? user : claimedUser; }
  // The two-letter termination code: cause, then phase ("--" for a normal end).
  std::string terminationCode() const;
  // The diagnostic line's text (without the logger's prefix), for failures.
  std::string diagnosticLine(std::string_view client, uint64_t nowMs) const;
  // Writes the diagnostic line (failures) and the access line, once.
  void finish(std::string_view client, uint64_t nowMs);
};

char endCauseCode(EndCause cause);
// Who is to blame for each error of the table (a refusal, the client, the upstream...).
EndCause endCauseFor(errors::ProxyError error);
char phaseCode(errors::Phase phase);

} // namespace gatehouse::proxy
