// Listening sockets (src/uv/listen_socket.cc): one SO_REUSEPORT group per address for this
// process's loops, and a port anybody else holds refused, on 127.0.0.1 and [::1].

#include <catch2/catch.hpp>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include "gatehouse/uv/listen_socket.h"

using gatehouse::uv::SocketAddress;

namespace {

SocketAddress loopback(bool ipv6, uint16_t port = 0) {
  SocketAddress a;
  REQUIRE(SocketAddress::fromNumeric(ipv6 ? "::1" : "127.0.0.1", port, a));
  return a;
}

// A listener with SO_REUSEPORT on `address`, as another process of the same user would open:
// the kernel lets it join an existing SO_REUSEPORT group. Returns the fd (or -errno).
int reusePortListener(const SocketAddress& address) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd, address.raw(), address.length()) != 0 || ::listen(fd, 4) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

void closeAll(const std::vector<int>& fds) {
  for (int fd : fds) {
    ::close(fd);
  }
}

} // namespace

TEST_CASE("one listening socket per loop, on one port, and nobody else on it") {
  const bool ipv6 = GENERATE(false, true);
  std::vector<int> fds = gatehouse::uv::openListenSockets(loopback(ipv6), 3, 16);
  REQUIRE(fds.size() == 3);
  const SocketAddress bound = gatehouse::uv::boundAddress(fds[0]);
  CHECK(bound.port() != 0);
  for (int fd : fds) {
    CHECK(gatehouse::uv::boundAddress(fd).toString() == bound.toString());
  }
  CHECK_FALSE(gatehouse::uv::foreignListenerOn(bound, fds));

  // A second set on the same port (another Gatehouse) is refused, naming the address.
  try {
    gatehouse::uv::openListenSockets(bound, 2, 16);
    FAIL("a second group bound the same port");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) ==
          "cannot listen on " + bound.toString() + ": Address already in use");
  }

  // What the check after binding looks for: a socket that joined the group in the meantime.
  int joined = reusePortListener(bound);
  REQUIRE(joined >= 0); // the kernel allows it (same user): hence the check
  CHECK(gatehouse::uv::foreignListenerOn(bound, fds));
  fds.push_back(joined);
  CHECK_FALSE(gatehouse::uv::foreignListenerOn(bound, fds)); // counted as ours: no stranger
  closeAll(fds);
}

TEST_CASE("a port another program holds with SO_REUSEPORT is refused") {
  const bool ipv6 = GENERATE(false, true);
  int other = reusePortListener(loopback(ipv6));
  REQUIRE(other >= 0);
  const SocketAddress held = gatehouse::uv::boundAddress(other);
  CHECK_THROWS_WITH(gatehouse::uv::openListenSockets(held, 1, 16),
                    Catch::Contains("Address already in use"));
  ::close(other);
  // Once it is gone the port is free again (and its SO_REUSEADDR passes any TIME_WAIT).
  std::vector<int> fds = gatehouse::uv::openListenSockets(held, 2, 16);
  CHECK(fds.size() == 2);
  closeAll(fds);
}
