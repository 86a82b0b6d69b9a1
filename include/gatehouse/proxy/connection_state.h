#pragma once
// The client connection's states and the edges allowed between them, written down once.
// An edge not in the table is a bug: debug builds abort on it (the ASan test run is a debug
// build), release builds log it and count it (tests assert the count stays zero).
//
//   ReadingHead -> Deciding -> Resolving -> Connecting -> Forwarding -> ReadingHead
//                     |  \--------------(pooled)-------/      |  \-> Resolving (retry)
//                     |                      \-> Tunneling <--/ (CONNECT, 101)
//                     \-> ReadingHead (local answer, keep-alive; also from Resolving and
//                                   Connecting after an error page for a failed upstream)
//   every state but Closed -> Draining (last response queued) -> Closed; any -> Closed

#include <atomic>
#include <cstdint>
#include <optional>

#include "gatehouse/proxy/request_reader.h"

namespace gatehouse::proxy {

enum class ConnectionState : uint8_t {
  ReadingHead, // waiting for, or receiving, a request head (idle keep-alive included)
  Deciding,    // the request-policy chain runs (maybe waiting on an off-loop check)
  Resolving,   // looking up the upstream's name
  Connecting,  // TCP (and TLS) connect to the upstream
  Forwarding,  // request and response flowing through
  Tunneling,   // bytes both ways (CONNECT or an upgraded connection)
  Draining,    // a last response is queued; close once it is written and the FIN sent
  Closed,      // handles closing; freed when they have
};
const char* connectionStateName(ConnectionState state);

// Why a connection ended (one per connection, logged at debug with the state it ended in).
enum class ConnectionEnd : uint8_t {
  None,
  ClientClosed,    // EOF or reset from the client between or during requests
  IdleTimeout,     // no request within idle_timeout
  Drained,         // the last response was written and the client closed or lingered out
  ResponseAborted, // a response was cut short (reset, or FIN where framing shows it)
  TunnelEnded,     // a tunnel's two directions finished
  TlsFailed,       // the client's TLS handshake or record layer failed
  Shutdown,        // the worker stopped
};
const char* connectionEndName(ConnectionEnd end);

// True when `from -> to` is an allowed edge.
bool transitionAllowed(ConnectionState from, ConnectionState to);

// What the request reader does with client bytes in `state`: heads while waiting for a
// request; the body while forwarding it (up to the head's end for a WebSocket upgrade, whose
// rest is the tunnel's); nothing yet once the request is in (pipelined bytes wait for the
// response) or while deciding and connecting; drop them when tunneling or closing.
ReadMode readModeFor(ConnectionState state, bool requestComplete, bool webSocket);

// Whether the connection reads its client socket now, or nullopt to leave it as it is
// (Tunneling: the tunnel decides; Closed). Reading stops while bytes are kept (pipelining stays
// bounded) and while forwarding into a full upstream (backpressure); a draining connection
// reads and discards until the client's EOF (lingering close).
std::optional<bool> wantClientReads(ConnectionState state, bool hasKept, bool upstreamFull,
                                    bool clientEof);

// Illegal transitions seen by this process (release builds only get here).
std::atomic<uint64_t>& illegalTransitions();

// One connection's state, changed only through to().
class ConnectionStateMachine {
public:
  ConnectionState state() const { return state_; }
  bool is(ConnectionState s) const { return state_ == s; }
  // Moves to `next`. Returns false (after reporting the bug) when the edge is not allowed;
  // the state changes anyway so the connection can still close.
  bool to(ConnectionState next);
  // Closed, with the reason recorded once (the first reason wins).
  void close(ConnectionEnd reason);
  ConnectionEnd end() const { return end_; }

private:
  ConnectionState state_ = ConnectionState::ReadingHead;
  ConnectionEnd end_ = ConnectionEnd::None;
};

} // namespace gatehouse::proxy
