#pragma once
// Which deadline a client connection waits for in each state, and what ends when it passes,
// decided without a loop: the connection fills in ConnectionClock from its state and calls
// nextDeadline() to arm its one uv::Timer and expiredDeadline() when it fires. Each state's
// choice is a table test (tests/unit/proxy/connection_deadlines_test.cc).
//
//   ReadingHead  request_head_timeout from the head's first byte (the first request's from
//                accept); idle_timeout from the last byte between requests
//   Resolving    dns_timeout from entering the state
//   Forwarding   read_timeout from the client's last byte while the body flows (none after:
//                the upstream's timers cover the response)
//   Tunneling    idle_timeout from the tunnel's last byte either way
//   Draining     idle_timeout per stall until our FIN is out, then the linger time
//   others       none (Deciding is bounded by its checks, Connecting by the upstream's timer)

#include <cstdint>
#include <optional>
#include <string>

#include "gatehouse/config/config.h"
#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/proxy/connection_state.h"

namespace gatehouse::proxy {

// How long a closing connection keeps reading (and discarding) once its FIN is out, so that
// unread request bytes do not turn our FIN into a RST that destroys the response in flight
// (lingering close). The clock starts when the FIN is sent, not when it is queued.
inline constexpr uint64_t kLingerMs = 5000;

// The configured limits the deadlines come from (config::Config's, in ms).
struct DeadlineLimits {
  uint64_t requestHeadTimeoutMs = 0;
  uint64_t idleTimeoutMs = 0;
  uint64_t dnsTimeoutMs = 0;
  uint64_t readTimeoutMs = 0;
};
// The limits `config` sets.
DeadlineLimits deadlineLimits(const config::Config& config);

// What a connection's deadlines depend on, at loop time `now`. Times are loop times in ms.
struct ConnectionClock {
  ConnectionState state = ConnectionState::ReadingHead;
  uint64_t now = 0;
  uint64_t stateSince = 0;         // entered the state (Draining: our FIN went out, once it has)
  uint64_t lastClientActivity = 0; // the client's last byte (or the last request's end)
  uint64_t headStartedAt = 0;      // the current head's first byte; accept for the first one
  unsigned requestCount = 0;       // requests begun on this connection
  bool headStarted = false;        // part of a request head is in
  bool requestComplete = false;    // Forwarding: the whole request body is in
  bool expectContinue = false;     // Forwarding: the client waits for 100 Continue
  bool upstreamFull = false;       // Forwarding: the upstream stopped taking the body
  bool resolving = false;          // Resolving: a lookup is in flight
  bool tunnelOpen = false;         // Tunneling: the tunnel exists
  uint64_t tunnelLastActivity = 0; // Tunneling: its last byte either way
  bool shutdownDone = false;       // Draining: our FIN is out (the linger clock runs)
  uint64_t writeQueue = 0;         // bytes still queued for the client now
  uint64_t writeQueueSeen = 0;     // Draining: the same at the last expiry (progress check)
  // Forwarding a response: bytes of it the client has taken (written, minus what is still
  // queued), the same at the last look, and when that look was (0: none yet).
  uint64_t responseTaken = 0;
  uint64_t responseTakenSeen = 0;
  uint64_t responseLookedAt = 0;
  uint64_t releaseAt = 0; // when to free idle per-request state; 0: not scheduled
};

// When the connection's timer should fire next, or nullopt to stop it. A scheduled release
// of idle per-request state fires it early, but only in a state that has a deadline.
std::optional<uint64_t> nextDeadline(const ConnectionClock& clock, const DeadlineLimits& limits);

// What passed when the timer fired (at clock.now).
struct Expiry {
  enum class Kind : uint8_t {
    None,             // nothing due yet (an early fire, or a release): re-arm
    RequestHead,      // answer `error` (408) for a head not complete in time
    IdleClose,        // close quietly: no next request came (`end`)
    DnsTimeout,       // fail the lookup in flight
    RequestBody,      // answer or cut with `error`: the body stalled, or the upstream did
    TunnelIdle,       // end the tunnel with `detail`
    DrainProgress,    // the client reads, slowly: the stall clock starts again now
    DrainStalled,     // the client stopped reading our last response: close with a reset
    ResponseProgress, // forwarding: the client took response bytes since the last look
    ResponseStalled,  // forwarding: it took none for idle_timeout while bytes waited: cut
    Lingered,         // the linger time after our FIN is over: close (`end`)
  };
  Kind kind = Kind::None;
  errors::ProxyError error = errors::ProxyError::None;
  errors::Phase phase = errors::Phase::ReadHead;
  std::string detail;
  ConnectionEnd end = ConnectionEnd::None;
  bool reset = false; // close with RST rather than FIN
};
Expiry expiredDeadline(const ConnectionClock& clock, const DeadlineLimits& limits);

} // namespace gatehouse::proxy
