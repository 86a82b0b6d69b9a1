#include "gatehouse/uv/listen_socket.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"

namespace gatehouse::uv {

namespace {

[[noreturn]] void failListen(const SocketAddress& address, int err, const std::string& why = "") {
  throw std::runtime_error("cannot listen on " + address.toString() + ": " + std::strerror(err) +
                           why);
}

// A socket bound to `address` with SO_REUSEADDR (a restart binds past its old connections in
// TIME_WAIT) and, when `reusePort`, SO_REUSEPORT. Returns -errno on failure.
int bindSocket(const SocketAddress& address, bool reusePort) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reusePort) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd, address.raw(), address.length()) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

// `address` as /proc/net/tcp{,6} prints a local address: the 32-bit words of the address in
// host order as %08X, then ":%04X" for the port.
std::string procNetAddress(const SocketAddress& address) {
  char text[64];
  if (address.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address.raw());
    std::snprintf(text, sizeof text, "%08X:%04X", in->sin_addr.s_addr, address.port());
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.raw());
    uint32_t words[4];
    std::memcpy(words, &in6->sin6_addr, sizeof words);
    std::snprintf(text, sizeof text, "%08X%08X%08X%08X:%04X", words[0], words[1], words[2],
                  words[3], address.port());
  }
  return text;
}

} // namespace

bool foreignListenerOn(const SocketAddress& address, const std::vector<int>& ours) {
  std::vector<unsigned long> inodes;
  for (int fd : ours) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
      inodes.push_back(static_cast<unsigned long>(st.st_ino));
    }
  }
  const std::string local = procNetAddress(address);
  std::ifstream table(address.family() == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6");
  std::string line;
  std::getline(table, line); // the header
  while (std::getline(table, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    std::istringstream fields(line);
    std::string slot, localAddress, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    if (!(fields >> slot >> localAddress >> remote >> state >> queues >> timer >> retransmits >>
          uid >> timeout >> inode)) {
      continue;
    }
    if (state == "0A" /* LISTEN */ && localAddress == local &&
        std::find(inodes.begin(), inodes.end(), inode) == inodes.end()) {
      return true;
    }
  }
  return false;
}

std::vector<int> openListenSockets(const SocketAddress& requested, unsigned count, int backlog) {
  // First a socket without SO_REUSEPORT: its bind fails against any listener on the address,
  // with SO_REUSEPORT or without, whoever owns it. It also fixes the port when 0 was asked,
  // and holds it (bound, never listening, so the group's SO_REUSEADDR binds pass it) until
  // the group listens: no outgoing connection can take that port in between.
  int probe = bindSocket(requested, false);
  if (probe < 0) {
    failListen(requested, -probe);
  }
  const SocketAddress address = boundAddress(probe);
  std::vector<int> fds;
  auto closeAll = [&fds, &probe] {
    for (int fd : fds) {
      ::close(fd);
    }
    if (probe >= 0) {
      ::close(probe);
    }
  };
  for (unsigned i = 0; i < count; ++i) {
    int fd = bindSocket(address, true);
    if (fd < 0 || ::listen(fd, backlog) != 0) {
      int err = fd < 0 ? -fd : errno;
      if (fd >= 0) {
        ::close(fd);
      }
      closeAll();
      failListen(address, err);
    }
    fds.push_back(fd);
  }
  ::close(probe);
  probe = -1;
  // A second process started in the same instant could have joined between probe and bind;
  // then both refuse the port rather than share it.
  if (foreignListenerOn(address, fds)) {
    closeAll();
    failListen(address, EADDRINUSE, " (another process listens on it with SO_REUSEPORT)");
  }
  return fds;
}

int openListenSocket(const SocketAddress& address, int backlog) {
  int fd = bindSocket(address, false);
  if (fd < 0) {
    failListen(address, -fd);
  }
  if (::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    failListen(address, err);
  }
  return fd;
}

SocketAddress boundAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return {};
  }
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss));
}

namespace {

struct AcceptorImpl final : Acceptor {
  uv_tcp_t handle;
  Loop* loop;
  AcceptCallback onAccept;
  bool closing = false;
};

void onConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<AcceptorImpl*>(server->data);
  if (self->closing) {
    return;
  }
  if (status < 0) {
    self->onAccept(nullptr, status);
    return;
  }
  TcpStream* stream = TcpStream::create(*self->loop);
  if (int rc = stream->acceptFrom(server); rc != 0) {
    stream->close();
    // EAGAIN means another loop took it: not an error worth reporting.
    if (rc != UV_EAGAIN) {
      self->onAccept(nullptr, rc);
    }
    return;
  }
  self->onAccept(stream, 0);
}

} // namespace

Acceptor* Acceptor::create(Loop& loop, int listenFd, AcceptCallback onAccept) {
  auto* self = new AcceptorImpl;
  self->loop = &loop;
  self->onAccept = std::move(onAccept);
  uv_tcp_init(static_cast<uv_loop_t*>(loop.raw()), &self->handle);
  self->handle.data = self;
  int fd = ::fcntl(listenFd, F_DUPFD_CLOEXEC, 0);
  int rc = fd < 0 ? UV_EBADF : uv_tcp_open(&self->handle, fd);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&self->handle), SOMAXCONN, onConnection);
  }
  if (rc != 0) {
    self->close();
    throw std::runtime_error(std::string("cannot accept on listening socket: ") + uv_strerror(rc));
  }
  return self;
}

void Acceptor::close() {
  auto* self = static_cast<AcceptorImpl*>(this);
  if (self->closing) {
    return;
  }
  self->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&self->handle),
           [](uv_handle_t* h) noexcept { delete static_cast<AcceptorImpl*>(h->data); });
}

} // namespace gatehouse::uv
