#include "gatehouse/proxy/connection_deadlines.h"

#include <algorithm>

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;
using State = ConnectionState;

namespace {

// The head is due from its first byte, and the first request's from accept (a client that
// connects and sends nothing is as slow as one that sends half a head).
bool headDue(const ConnectionClock& c) {
  return c.headStarted || c.requestCount == 0;
}

} // namespace

std::optional<uint64_t> nextDeadline(const ConnectionClock& c, const DeadlineLimits& limits) {
  uint64_t deadline = 0;
  switch (c.state) {
  case State::ReadingHead:
    deadline = headDue(c) ? c.headStartedAt + limits.requestHeadTimeoutMs
                          : c.lastClientActivity + limits.idleTimeoutMs;
    break;
  case State::Resolving:
    deadline = c.stateSince + limits.dnsTimeoutMs;
    break;
  case State::Forwarding:
    if (c.requestComplete) {
      // The upstream's timers cover the wait for the response; this one looks, every
      // idle_timeout, whether response bytes wait for a client that takes none of them (the
      // upstream's read timer pauses while the client holds us back).
      deadline = std::max(c.stateSince, c.responseLookedAt) + limits.idleTimeoutMs;
      break;
    }
    // Waiting for 100 Continue or for the upstream to take more body is the upstream's time,
    // but it is measured here too: the client's side is the one that stands still.
    deadline = c.lastClientActivity + limits.readTimeoutMs;
    break;
  case State::Tunneling:
    deadline = (c.tunnelOpen ? c.tunnelLastActivity : c.now) + limits.idleTimeoutMs;
    break;
  case State::Draining:
    // Until the FIN is out a slow reader gets idle_timeout per stall; then the linger time.
    deadline = c.stateSince + (c.shutdownDone ? kLingerMs : limits.idleTimeoutMs);
    break;
  default:
    return std::nullopt;
  }
  if (c.releaseAt != 0) {
    deadline = std::min(deadline, c.releaseAt);
  }
  return deadline;
}

Expiry expiredDeadline(const ConnectionClock& c, const DeadlineLimits& limits) {
  Expiry e;
  switch (c.state) {
  case State::ReadingHead:
    if (headDue(c) && c.now >= c.headStartedAt + limits.requestHeadTimeoutMs) {
      e.kind = Expiry::Kind::RequestHead;
      e.error = ProxyError::RequestTimeout;
      e.phase = Phase::ReadHead;
      const std::string ms = std::to_string(limits.requestHeadTimeoutMs);
      e.detail = c.headStarted ? "request head not complete within " + ms + " ms"
                               : "no request within " + ms + " ms of connecting";
    } else if (!c.headStarted && c.requestCount > 0 &&
               c.now >= c.lastClientActivity + limits.idleTimeoutMs) {
      e.kind = Expiry::Kind::IdleClose;
      e.end = ConnectionEnd::IdleTimeout;
    }
    break;
  case State::Resolving:
    if (c.resolving && c.now >= c.stateSince + limits.dnsTimeoutMs) {
      e.kind = Expiry::Kind::DnsTimeout;
      e.phase = Phase::Dns;
    }
    break;
  case State::Forwarding:
    if (c.requestComplete) {
      if (c.now >= std::max(c.stateSince, c.responseLookedAt) + limits.idleTimeoutMs) {
        if (c.writeQueue == 0 || c.responseTaken > c.responseTakenSeen) {
          // Nothing waits for the client, or it reads, slowly: look again a period on.
          e.kind = Expiry::Kind::ResponseProgress;
        } else {
          // As nginx's send_timeout: a client that takes nothing while the response waits
          // would hold both connections for as long as it likes.
          e.kind = Expiry::Kind::ResponseStalled;
          e.error = ProxyError::ClientClosed;
          e.phase = Phase::ReadBody;
          e.detail = "the client took no byte of the response for " +
                     std::to_string(limits.idleTimeoutMs) + " ms";
        }
      }
    } else if (c.now >= c.lastClientActivity + limits.readTimeoutMs) {
      e.kind = Expiry::Kind::RequestBody;
      e.phase = Phase::Send;
      const std::string ms = std::to_string(limits.readTimeoutMs);
      if (c.expectContinue) {
        // The client is right to wait for 100 Continue: the upstream is the slow side.
        e.error = ProxyError::UpstreamReadTimeout;
        e.detail = "no 100 Continue or response within " + ms + " ms";
      } else if (c.upstreamFull) {
        // The client is right to wait for the upstream to read.
        e.error = ProxyError::UpstreamReadTimeout;
        e.detail = "upstream stopped reading the request body for " + ms + " ms";
      } else {
        e.error = ProxyError::RequestTimeout;
        e.detail = "request body stalled for " + ms + " ms";
      }
    }
    break;
  case State::Tunneling:
    if (c.tunnelOpen && c.now >= c.tunnelLastActivity + limits.idleTimeoutMs) {
      e.kind = Expiry::Kind::TunnelIdle;
      e.phase = Phase::Tunnel;
      e.detail = "idle for " + std::to_string(limits.idleTimeoutMs) + " ms";
    }
    break;
  case State::Draining:
    if (c.shutdownDone) {
      if (c.now >= c.stateSince + kLingerMs) {
        e.kind = Expiry::Kind::Lingered;
        e.end = ConnectionEnd::Drained;
      }
    } else if (c.now >= c.stateSince + limits.idleTimeoutMs) {
      // The queue shrank since the last look: the client reads, slowly. Else it stopped.
      e.kind = c.writeQueue < c.writeQueueSeen ? Expiry::Kind::DrainProgress
                                               : Expiry::Kind::DrainStalled;
      e.end = ConnectionEnd::Drained;
      e.reset = e.kind == Expiry::Kind::DrainStalled;
    }
    break;
  default:
    break;
  }
  return e;
}

DeadlineLimits deadlineLimits(const config::Config& config) {
  return {.requestHeadTimeoutMs = config.requestHeadTimeoutMs,
          .idleTimeoutMs = config.idleTimeoutMs,
          .dnsTimeoutMs = config.dnsTimeoutMs,
          .readTimeoutMs = config.readTimeoutMs};
}

} // namespace gatehouse::proxy
