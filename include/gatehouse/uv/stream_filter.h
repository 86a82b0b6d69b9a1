#pragma once
// A byte transformation between a TcpStream's socket and its handler (TLS is the one in use).
// It lives here so the transport never depends on what runs over it: the TLS layer sits above
// src/uv and implements this interface; TcpStream only moves bytes through it.

#include <string>
#include <string_view>

namespace gatehouse::uv {

// What a filter says after being fed bytes.
enum class FilterStatus {
  Ok,
  Closed,        // the peer ended the protocol cleanly (TLS close_notify)
  WrongProtocol, // the first bytes are not this protocol (plain HTTP to a TLS port, say)
  Failed,        // handshake or record error; see error()
};

// Turns wire bytes into the handler's bytes and back, with no I/O of its own. A filter's
// protocol ends with a message of its own (receive() says Closed): a raw EOF before it is
// reported to the handler as kEofTruncated, so a cut-off peer never looks like a clean end.
class StreamFilter {
public:
  virtual ~StreamFilter() = default;
  // Feeds bytes read from the socket: decoded bytes are appended to `plain`, bytes to send
  // back (handshake, alerts) to `out`.
  virtual FilterStatus receive(std::string_view wire, std::string& plain, std::string& out) = 0;
  // Encodes `plain` into `out` (a filter may hold it back until its handshake is done).
  virtual FilterStatus send(std::string_view plain, std::string& out) = 0;
  // Appends the protocol's closing message (TLS close_notify) to `out`.
  virtual void shutdown(std::string& out) = 0;
  // Why the last call failed.
  virtual const std::string& error() const = 0;
};

} // namespace gatehouse::uv
