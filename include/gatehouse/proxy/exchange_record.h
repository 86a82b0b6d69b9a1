#pragma once
// One record per request or tunnel: ids, times per phase, bytes, user, upstream, status,
// Proxy-Status type and why and where it ended (Envoy's StreamInfo, HAProxy's termination
// codes). finish() is the one place that writes the access line and, for failures, the
// diagnostic line; metrics read the same record.

#include <cstdint>
#include <memory>
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

// A string most records never set (a refused user, a parent, a failure's detail): one pointer
// while empty instead of a std::string's 32 bytes, because an open tunnel keeps its record.
class RareString {
public:
  RareString() = default;
  RareString(const RareString& other) { *this = other; }
  RareString& operator=(const RareString& other) { return *this = std::string_view(other); }
  RareString(RareString&&) noexcept = default;
  RareString& operator=(RareString&&) noexcept = default;
  RareString& operator=(std::string_view text) {
    if (text.empty()) {
      value_.reset();
    } else if (value_) {
      value_->assign(text);
    } else {
      value_ = std::make_unique<std::string>(text);
    }
    return *this;
  }
  RareString& operator=(const std::string& text) { return *this = std::string_view(text); }
  RareString& operator=(const char* text) { return *this = std::string_view(text); }
  RareString& operator+=(std::string_view text) {
    return *this = std::string(std::string_view(*this)) + std::string(text);
  }
  bool empty() const { return !value_ || value_->empty(); }
  void clear() { value_.reset(); }
  operator std::string_view() const { return value_ ? std::string_view(*value_) : ""; }
  std::string str() const { return value_ ? *value_ : std::string(); }
  friend bool operator==(const RareString& a, std::string_view b) {
    return std::string_view(a) == b;
  }

private:
  std::unique_ptr<std::string> value_;
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
  std::string user;       // the authenticated user
  RareString claimedUser; // the user refused credentials named (never authenticated)
  std::string upstreamAddress;
  RareString rule;      // the policy rule that decided, when one did
  RareString wouldDeny; // a report-mode rule that would have denied it
  RareString parent;    // the parent proxy the request went through, when one did
  // A parent's own Proxy-Status members, kept in front of ours on an error it caused.
  RareString upstreamProxyStatus;
  uint64_t bytesIn = 0;  // from the client
  uint64_t bytesOut = 0; // to the client
  RareString detail;     // why it failed, for the diagnostic line
  // The small fields together, after the 8-byte ones: an open tunnel keeps its record, so
  // padding here is paid by every tunnel (280 bytes, a 288-byte allocation; it was 312/320).
  int status = 0;
  errors::ProxyError error = errors::ProxyError::None;
  errors::Phase phase = errors::Phase::ReadHead;
  EndCause cause = EndCause::Normal;
  bool aborted = false;  // the response was cut (reset or FIN) after it started
  bool finished = false; // finish() ran: the lines are written once

  // Records a failure; the first one wins (a later consequence never hides the cause).
  void fail(errors::ProxyError error, errors::Phase phase, EndCause cause, std::string detail);
  // The user as every line shows it: authenticated, else claimed, else empty.
  std::string_view shownUser() const {
    return !user.empty() ? std::string_view(user) : std::string_view(claimedUser);
  }
  // The two-letter termination code: cause, then phase ("--" for a normal end).
  std::string terminationCode() const;
  // The diagnostic line's text (without the logger's prefix), for failures.
  std::string diagnosticLine(std::string_view client, uint64_t nowMs) const;
  // Writes the diagnostic line (failures) and the access line, once.
  void finish(std::string_view client, uint64_t nowMs);
};
static_assert(sizeof(ExchangeRecord) <= 280, "an open tunnel keeps its record");

char endCauseCode(EndCause cause);
// Who is to blame for each error of the table (a refusal, the client, the upstream...).
EndCause endCauseFor(errors::ProxyError error);
char phaseCode(errors::Phase phase);

} // namespace gatehouse::proxy
