// Gatehouse behind a real HAProxy (Debian's haproxy, started here on a loopback port) in TCP
// mode, in front of two instances whose listeners are marked proxy_protocol: one server line
// sends PROXY v1, the other v2. Clients connect from 127.0.0.2, HAProxy from 127.0.0.1, so the
// access logs show whether the real client address came through.

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "../support/fake_upstream.h"
#include "../support/gatehouse_process.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A connection to 127.0.0.1:port from 127.0.0.2 (another loopback address than HAProxy's);
// `localPort` gets the source port the kernel picked.
Socket connectFrom2(uint16_t port, uint16_t& localPort) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  Socket socket(fd);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(0x7f000002);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    throw std::runtime_error("connect failed");
  }
  socklen_t len = sizeof from;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&from), &len);
  localPort = ntohs(from.sin_port);
  return socket;
}

} // namespace

TEST_CASE("HAProxy with send-proxy (v1) and send-proxy-v2 in front of two instances") {
  REQUIRE(::access("/usr/sbin/haproxy", X_OK) == 0); // tools/setup.sh --tests installs it
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  const std::string dns = "127.0.0.1:" + std::to_string(unusedPort());
  std::string logs[2] = {writeTempFile("lb-access-1.log", ""),
                         writeTempFile("lb-access-2.log", "")};
  std::unique_ptr<GatehouseProcess> instances[2];
  uint16_t ports[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    instances[i] = std::make_unique<GatehouseProcess>(
        std::vector<std::string>{"--listen", "127.0.0.1:0 proxy_protocol", "--workers", "1",
                                 "--dns-servers", dns, "--access-log", logs[i]});
    ports[i] = instances[i]->waitForPort();
    REQUIRE(ports[i] != 0);
  }

  const uint16_t front = unusedPort();
  std::string config = writeTempFile(
      "haproxy.cfg", "global\n  maxconn 100\n"
                     "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
                     "  timeout server 30s\n"
                     "frontend gatehouse_front\n  bind 127.0.0.1:" +
                         std::to_string(front) +
                         "\n  default_backend gatehouse_instances\n"
                         "backend gatehouse_instances\n  balance roundrobin\n"
                         "  default-server check check-send-proxy inter 500ms\n"
                         "  server gatehouse1 127.0.0.1:" +
                         std::to_string(ports[0]) + " send-proxy\n  server gatehouse2 127.0.0.1:" +
                         std::to_string(ports[1]) + " send-proxy-v2\n");
  GatehouseProcess haproxy("/usr/sbin/haproxy", {"-db", "-f", config});
  // Wait (bounded) until HAProxy accepts.
  bool up = false;
  for (int i = 0; i < 250 && !up; ++i) {
    try {
      Socket probe = Socket::connectTo(front);
      up = true;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  REQUIRE(up);

  std::vector<uint16_t> clientPorts;
  for (int i = 0; i < 6; ++i) {
    uint16_t localPort = 0;
    Socket client = connectFrom2(front, localPort);
    client.sendAll("GET http://" + upstream.hostPort() +
                   "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    Response response = readResponse(client);
    CHECK(response.status == 200);
    CHECK(response.body == "ok");
    clientPorts.push_back(localPort);
  }

  // A connection straight to an instance, without a header, is refused.
  Socket direct = Socket::connectTo(ports[1]);
  direct.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(direct.waitForClose()); // closed (RST: the request was unread) without an answer
  CHECK_FALSE(
      instances[1]->waitForLine("PROXY protocol: refused a connection from 127.0.0.1:").empty());

  haproxy.signal(SIGTERM);
  haproxy.wait(10'000);
  for (auto& instance : instances) {
    instance->signal(SIGTERM);
    CHECK(instance->wait(10'000) == 0);
  }
  // Every request is logged once, with the client's own address and port, by one instance;
  // both instances served some.
  std::string both = readFile(logs[0]) + readFile(logs[1]);
  for (uint16_t port : clientPorts) {
    INFO(port);
    CHECK(both.find("client=127.0.0.2:" + std::to_string(port) + " ") != std::string::npos);
  }
  for (const std::string& log : logs) {
    std::string text = readFile(log);
    CHECK(text.find("client=127.0.0.2:") != std::string::npos);
    CHECK(text.find("client=127.0.0.1:") == std::string::npos);
    ::unlink(log.c_str());
  }
}
