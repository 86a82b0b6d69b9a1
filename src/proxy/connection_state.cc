#include "gatehouse/proxy/connection_state.h"

#include <cassert>

#include "gatehouse/log/log.h"

namespace gatehouse::proxy {

namespace {

constexpr uint16_t bit(ConnectionState s) {
  return static_cast<uint16_t>(1u << static_cast<unsigned>(s));
}

using S = ConnectionState;

// Allowed targets per source state (HAProxy keeps its stream states as bits the same way).
constexpr uint16_t kAllowed[] = {
    /* ReadingHead */ bit(S::Deciding) | bit(S::Draining) | bit(S::Closed),
    /* Deciding    */ bit(S::ReadingHead) | bit(S::Resolving) | bit(S::Forwarding) |
        bit(S::Draining) | bit(S::Closed),
    // An upstream failure answered with an error page keeps a keep-alive client.
    /* Resolving   */ bit(S::Connecting) | bit(S::ReadingHead) | bit(S::Draining) | bit(S::Closed),
    /* Connecting  */ bit(S::Forwarding) | bit(S::Tunneling) | bit(S::ReadingHead) |
        bit(S::Draining) | bit(S::Closed),
    /* Forwarding  */ bit(S::ReadingHead) | bit(S::Resolving) | bit(S::Tunneling) |
        bit(S::Draining) | bit(S::Closed),
    /* Tunneling   */ bit(S::Closed),
    /* Draining    */ bit(S::Closed),
    /* Closed      */ 0,
};
static_assert(sizeof kAllowed / sizeof kAllowed[0] == static_cast<size_t>(S::Closed) + 1);

} // namespace

const char* connectionStateName(ConnectionState state) {
  switch (state) {
  case S::ReadingHead:
    return "reading-head";
  case S::Deciding:
    return "deciding";
  case S::Resolving:
    return "resolving";
  case S::Connecting:
    return "connecting";
  case S::Forwarding:
    return "forwarding";
  case S::Tunneling:
    return "tunneling";
  case S::Draining:
    return "draining";
  case S::Closed:
    return "closed";
  }
  return "unknown";
}

const char* connectionEndName(ConnectionEnd end) {
  switch (end) {
  case ConnectionEnd::None:
    return "none";
  case ConnectionEnd::ClientClosed:
    return "client closed";
  case ConnectionEnd::IdleTimeout:
    return "idle timeout";
  case ConnectionEnd::Drained:
    return "drained";
  case ConnectionEnd::ResponseAborted:
    return "response aborted";
  case ConnectionEnd::TunnelEnded:
    return "tunnel ended";
  case ConnectionEnd::TlsFailed:
    return "tls failed";
  case ConnectionEnd::Shutdown:
    return "shutdown";
  }
  return "unknown";
}

bool transitionAllowed(ConnectionState from, ConnectionState to) {
  return (kAllowed[static_cast<size_t>(from)] & bit(to)) != 0;
}

ReadMode readModeFor(ConnectionState state, bool requestComplete, bool webSocket) {
  switch (state) {
  case ConnectionState::ReadingHead:
    return ReadMode::Heads;
  case ConnectionState::Forwarding:
    if (requestComplete) {
      return ReadMode::Hold; // pipelined: the next request waits for this response
    }
    return webSocket ? ReadMode::UpgradeEnd : ReadMode::Body;
  case ConnectionState::Draining:
  case ConnectionState::Closed:
  case ConnectionState::Tunneling:
    return ReadMode::Stop;
  default:
    return ReadMode::Hold;
  }
}

std::optional<bool> wantClientReads(ConnectionState state, bool hasKept, bool upstreamFull,
                                    bool clientEof) {
  switch (state) {
  case ConnectionState::ReadingHead:
  case ConnectionState::Deciding:
  case ConnectionState::Resolving:
  case ConnectionState::Connecting:
    return !hasKept; // bounded: nothing more is read until kept bytes are used
  case ConnectionState::Forwarding:
    return !hasKept && !upstreamFull;
  case ConnectionState::Draining:
    return !clientEof;
  default:
    return std::nullopt;
  }
}

std::atomic<uint64_t>& illegalTransitions() {
  static std::atomic<uint64_t> count{0};
  return count;
}

bool ConnectionStateMachine::to(ConnectionState next) {
  const bool allowed = transitionAllowed(state_, next);
  if (!allowed) {
    illegalTransitions().fetch_add(1, std::memory_order_relaxed);
    log::diag().error("bug: illegal connection transition {} -> {}", connectionStateName(state_),
                      connectionStateName(next));
    assert(!"illegal connection state transition");
  }
  state_ = next;
  return allowed;
}

void ConnectionStateMachine::close(ConnectionEnd reason) {
  if (end_ == ConnectionEnd::None) {
    end_ = reason;
  }
  if (state_ != ConnectionState::Closed) {
    to(ConnectionState::Closed);
  }
}

} // namespace gatehouse::proxy
