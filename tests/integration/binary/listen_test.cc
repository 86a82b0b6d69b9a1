// Listening ports belong to one process: a second Gatehouse, or any other program, on a port
// already held fails at start with "Address already in use" (exit 1), while the workers of
// one process share their listening sockets and all serve.

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <set>
#include <sys/socket.h>

#include "../support/fake_upstream.h"
#include <csignal>

#include "../support/gatehouse_process.h"

using namespace gatehouse::test;

namespace {

// A plain listening socket on 127.0.0.1:0 with SO_REUSEPORT set, as another program might
// hold a port (the setting that let a second Gatehouse join the first one's port).
class ReusePortListener {
public:
  ReusePortListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    int one = 1;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof address;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &len) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~ReusePortListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

std::vector<std::string> proxyArgs(const std::string& listen, unsigned workers) {
  return {"--listen",      listen,
          "--workers",     std::to_string(workers),
          "--dns-servers", "127.0.0.1:" + std::to_string(unusedPort())};
}

// Starts a proxy on `port` that must fail: its exit code and everything it wrote. One that
// is still running after 5 s (it started after all) is killed and reports -1.
std::pair<int, std::string> startExpectingFailure(uint16_t port) {
  GatehouseProcess second(proxyArgs("127.0.0.1:" + std::to_string(port), 2));
  std::string output = second.readRest(5'000);
  second.signal(SIGKILL); // a no-op once it exited (an unreaped child keeps its pid)
  return {second.wait(), output};
}

} // namespace

TEST_CASE("a second Gatehouse on a port the first one holds fails with Address already in use") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("first")));
  GatehouseProcess first(proxyArgs("127.0.0.1:0", 2));
  uint16_t port = first.waitForPort();
  REQUIRE(port != 0);

  auto [exitCode, output] = startExpectingFailure(port);
  CHECK(exitCode == 1);
  CHECK(output.find("Address already in use") != std::string::npos);
  CHECK(output.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);

  // The first one still has the port to itself: every connection is answered by it.
  for (int i = 0; i < 10; ++i) {
    Socket client = Socket::connectTo(port);
    client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.status == 200);
    CHECK(r.body == "first");
  }
  first.signal(SIGTERM);
  CHECK(first.wait() == 0);
}

TEST_CASE("a port held by another program with SO_REUSEPORT is refused at start") {
  ReusePortListener other;
  auto [exitCode, output] = startExpectingFailure(other.port());
  CHECK(exitCode == 1);
  CHECK(output.find("Address already in use") != std::string::npos);
}

TEST_CASE("the workers of one process share the listening socket and all serve") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("shared")));
  GatehouseProcess proxy(proxyArgs("127.0.0.1:0", 2));
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  // Connections held open together, so each loop gets its share of the accepts.
  constexpr int kClients = 64;
  std::vector<Socket> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Socket::connectTo(port));
  }
  for (Socket& client : clients) {
    client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  int answered = 0;
  for (Socket& client : clients) {
    Response r = readResponse(client);
    answered += r.status == 200 && r.body == "shared" ? 1 : 0;
  }
  CHECK(answered == kClients);
  // Access ids start with the worker index: both loops accepted some of the connections.
  std::set<std::string> workers;
  for (int i = 0; i < kClients; ++i) {
    std::string line = proxy.waitForLine("access id=");
    REQUIRE_FALSE(line.empty());
    size_t at = line.find("access id=") + 10;
    workers.insert(line.substr(at, line.find('.', at) - at));
  }
  CHECK(workers == std::set<std::string>{"0", "1"});
  proxy.signal(SIGTERM);
  CHECK(proxy.wait() == 0);
}
