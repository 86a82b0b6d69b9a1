// CONNECT tunnels over loopback.

#include <catch2/catch.hpp>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {
// An echo upstream that upper-cases nothing: it returns exactly what it reads until EOF, then
// sends "bye" and closes.
FakeUpstream::Script echoThenBye() {
  return [](UpstreamPeer& peer) {
    while (true) {
      std::string data = peer.socket().readSome();
      if (data.empty()) {
        peer.send("bye");
        return;
      }
      peer.send(data);
    }
  };
}
} // namespace

TEST_CASE("CONNECT answers 200 only once connected and relays bytes both ways") {
  FakeUpstream upstream(echoThenBye());
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\nHost: " + upstream.hostPort() +
                 "\r\n\r\n");
  std::string head = client.readUntil("\r\n\r\n");
  CHECK(head == "HTTP/1.1 200 Connection established\r\n\r\n");
  client.sendAll("ping");
  CHECK(client.readExactly(4) == "ping");
}

TEST_CASE("bytes sent right after the CONNECT head reach the upstream first") {
  FakeUpstream upstream(echoThenBye());
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\n\r\n\x16\x03\x01 hello");
  client.readUntil("\r\n\r\n");
  CHECK(client.readExactly(9) == "\x16\x03\x01 hello");
}

TEST_CASE("half-close: the client's EOF reaches the upstream while data still flows back") {
  FakeUpstream upstream(echoThenBye());
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\n\r\n");
  client.readUntil("\r\n\r\n");
  client.sendAll("abc");
  CHECK(client.readExactly(3) == "abc");
  client.shutdownWrite();
  // The upstream saw EOF (its read returned empty) and answered after it.
  CHECK(client.readToEnd() == "bye");
  std::string line = proxy.waitForLog({"access", "method=CONNECT", "status=200", "in=3", "out=6"});
  CHECK_FALSE(line.empty());
}

TEST_CASE("CONNECT to a port outside connect-ports is refused with 403 before connecting") {
  FakeUpstream upstream(echoThenBye());
  auto config = testConfig();
  config.connectPorts = gatehouse::config::PortList::only(443);
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 403);
  CHECK(r.header("proxy-status").find("error=http_request_denied") != std::string::npos);
  CHECK(upstream.connectionCount() == 0);
}

TEST_CASE("CONNECT targets must be authority-form") {
  ProxyHarness proxy;
  for (std::string target :
       {"/path", "http://a:1/", "host-without-port", "user@host:443", "[::1:443"}) {
    Socket client = proxy.connect();
    client.sendAll("CONNECT " + target + " HTTP/1.1\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.status == 400);
  }
}

TEST_CASE("CONNECT to a refused port answers 502 connection_refused") {
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("CONNECT 127.0.0.1:" + std::to_string(unusedPort()) + " HTTP/1.1\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 502);
  CHECK(r.header("proxy-status").find("error=connection_refused") != std::string::npos);
}

TEST_CASE("an idle tunnel is closed after idle-timeout") {
  FakeUpstream upstream([](UpstreamPeer& peer) { peer.stall(); });
  auto config = testConfig();
  config.idleTimeoutMs = 300;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\n\r\n");
  client.readUntil("\r\n\r\n");
  CHECK(client.waitForClose(std::chrono::milliseconds(5000)));
}

TEST_CASE("a WebSocket upgrade switches to a tunnel only on a real 101") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    peer.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
              "Upgrade\r\n\r\nfrom-server");
    while (true) {
      std::string data = peer.socket().readSome();
      if (data.empty()) {
        return;
      }
      peer.send(data);
    }
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(
      "GET http://" + upstream.hostPort() +
      "/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 101);
  CHECK(r.header("upgrade") == "websocket");
  CHECK(client.readExactly(11) == "from-server");
  client.sendAll("frame");
  CHECK(client.readExactly(5) == "frame");
  REQUIRE(upstream.waitForRequests(1));
  std::string seen = upstream.requests()[0];
  CHECK(seen.find("Upgrade: websocket") != std::string::npos);
  CHECK(seen.find("Connection: upgrade") != std::string::npos);
}
