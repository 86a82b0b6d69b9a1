#pragma once
// Listening sockets shared by several loops (SO_REUSEPORT), and the accepting handle per loop.

#include <functional>
#include <string>

#include "gatehouse/uv/socket_address.h"

namespace gatehouse::uv {

class Loop;
class TcpStream;

// Creates, binds and listens on a socket with SO_REUSEADDR and SO_REUSEPORT. Throws
// std::runtime_error naming the address on failure (start-up only). Returns the fd. Without
// `reusePort` the port cannot be shared (the admin listener must never join a proxy port).
int openListenSocket(const SocketAddress& address, int backlog, bool reusePort = true);
// The address a socket is bound to (the real port after binding port 0).
SocketAddress boundAddress(int fd);

// Accepts connections on a listening fd inside one loop. The callback gets a new stream that
// it then owns (set a handler, start reading), or a negative libuv error.
class Acceptor {
public:
  using AcceptCallback = std::function<void(TcpStream* stream, int status)>;
  // Duplicates the fd so that each loop closes its own copy.
  static Acceptor* create(Loop& loop, int listenFd, AcceptCallback onAccept);
  void close(); // frees itself once closed

protected:
  Acceptor() = default;
  ~Acceptor() = default;
};

} // namespace gatehouse::uv
