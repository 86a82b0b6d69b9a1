#include "gatehouse/uv/listen_socket.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>
#include <uv.h>

#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"

namespace gatehouse::uv {

int openListenSocket(const SocketAddress& address, int backlog, bool reusePort) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("socket(" + address.toString() + "): " + std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Each worker loop accepts on its own socket; the kernel spreads connections.
  if (reusePort) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd, address.raw(), address.length()) != 0 || ::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on " + address.toString() + ": " + std::strerror(err));
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
