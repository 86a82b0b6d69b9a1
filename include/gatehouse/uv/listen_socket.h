#pragma once
// Listening sockets for the loops of one process (an SO_REUSEPORT group that no other process
// may join), and the accepting handle per loop.

#include <functional>
#include <string>
#include <vector>

#include "gatehouse/uv/socket_address.h"

namespace gatehouse::uv {

class Loop;
class TcpStream;

// Binds `count` listening sockets to `address` with SO_REUSEPORT, one per loop, so the kernel
// spreads connections across the loops; port 0 picks one port for all. The port must be this
// process's alone: a port that anything holds (another Gatehouse included, which SO_REUSEPORT
// alone would let join) fails with "Address already in use". Throws std::runtime_error naming
// the address (start-up only). Returns the fds.
std::vector<int> openListenSockets(const SocketAddress& address, unsigned count, int backlog);
// Whether a listening socket on exactly `address` exists that is none of `ours` (by inode,
// from /proc/net/tcp or tcp6): another process of the same user in the SO_REUSEPORT group.
// False when /proc cannot be read.
bool foreignListenerOn(const SocketAddress& address, const std::vector<int>& ours);
// One listening socket on `address` without SO_REUSEPORT, so nothing can share its port (the
// admin listener must never join a proxy port). Throws std::runtime_error naming the address
// (start-up only). Returns the fd.
int openListenSocket(const SocketAddress& address, int backlog);
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
