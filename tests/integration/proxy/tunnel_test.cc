// CONNECT tunnels over loopback.

#include <atomic>

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

// ---- bulk tunnels: splice(2) --------------------------------------------------------------

namespace {

// Reads `size` bytes from the client, checks them, then sends `reply` bytes and closes.
FakeUpstream::Script readThenSend(size_t size, size_t reply, std::atomic<bool>& uploadOk) {
  return [size, reply, &uploadOk](UpstreamPeer& peer) {
    std::string got = peer.socket().readExactly(size);
    uploadOk = got == pattern(size);
    std::string body = pattern(reply, 7);
    for (size_t sent = 0; sent < body.size(); sent += 256 * 1024) {
      peer.send(std::string_view(body).substr(sent, 256 * 1024));
    }
  };
}

std::string openTunnel(Socket& client, const FakeUpstream& upstream) {
  client.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\n\r\n");
  return client.readUntil("\r\n\r\n");
}
} // namespace

TEST_CASE("a bulk tunnel switches to splice and carries every byte in order both ways") {
  std::atomic<bool> uploadOk{false};
  constexpr size_t kUp = 2 * 1024 * 1024;
  constexpr size_t kDown = 16 * 1024 * 1024 + 17;
  FakeUpstream upstream(readThenSend(kUp, kDown, uploadOk));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  openTunnel(client, upstream);
  std::string up = pattern(kUp);
  client.sendAll(up);
  std::string down = client.readToEnd();
  client.shutdownWrite(); // the tunnel ends once both sides finished
  CHECK(uploadOk.load());
  CHECK(down.size() == kDown);
  CHECK(down == pattern(kDown, 7));
  proxy.waitForLog(
      {"access", "method=CONNECT", "in=" + std::to_string(kUp), "out=" + std::to_string(kDown)});
  CHECK_FALSE(proxy.waitForLog({"tunnel to", "ended: both sides closed (spliced)"}).empty());
  CHECK(proxy.server().counters().splicedTunnels.load() == 1);
}

TEST_CASE("with splice off a bulk tunnel copies and carries the same bytes") {
  std::atomic<bool> uploadOk{false};
  constexpr size_t kUp = 1024 * 1024;
  constexpr size_t kDown = 4 * 1024 * 1024 + 5;
  FakeUpstream upstream(readThenSend(kUp, kDown, uploadOk));
  auto config = testConfig();
  config.splice = false;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  openTunnel(client, upstream);
  client.sendAll(pattern(kUp));
  std::string down = client.readToEnd();
  client.shutdownWrite();
  CHECK(uploadOk.load());
  CHECK(down == pattern(kDown, 7));
  proxy.waitForLog({"access", "method=CONNECT", "in=" + std::to_string(kUp)});
  CHECK(proxy.server().counters().splicedTunnels.load() == 0);
}

TEST_CASE("half-close still works once a tunnel is spliced") {
  FakeUpstream upstream(echoThenBye());
  ProxyHarness proxy;
  Socket client = proxy.connect();
  openTunnel(client, upstream);
  // Past the switch point in echoed rounds small enough to never block both ways at once.
  size_t sent = 0;
  for (int round = 0; round < 8; ++round) {
    std::string chunk = pattern(32 * 1024, sent);
    client.sendAll(chunk);
    REQUIRE(client.readExactly(chunk.size()) == chunk);
    sent += chunk.size();
  }
  client.sendAll("ping"); // through the kernel pipe now
  CHECK(client.readExactly(4) == "ping");
  client.shutdownWrite();
  CHECK(client.readToEnd() == "bye");
  proxy.waitForLog({"access", "method=CONNECT", "in=" + std::to_string(sent + 4),
                    "out=" + std::to_string(sent + 4 + 3)});
  CHECK(proxy.server().counters().splicedTunnels.load() == 1);
}

// Both paths: libuv 1.44 turns an RST that follows data into EOF (POLLHUP after a partial read)
// unless the stream asks the socket for its error, and the pump reads until the error itself.
TEST_CASE("an upstream reset during a bulk transfer resets the client and is logged") {
  const bool splice = GENERATE(true, false);
  CAPTURE(splice);
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.socket().readExactly(2); // the tunnel is up: the client's bytes came through it
    peer.send(pattern(1024 * 1024));
    peer.socket().reset();
  });
  auto config = testConfig();
  config.splice = splice;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  openTunnel(client, upstream);
  client.sendAll("go");
  bool reset = false;
  std::string got = client.readToEnd(&reset);
  CHECK(got.size() <= 1024 * 1024);
  CHECK(got == pattern(got.size())); // whatever arrived is a correct prefix
  CHECK(reset);
  CHECK_FALSE(proxy.waitForLog({"tunnel to", "ended: read ECONNRESET"}).empty());
}

TEST_CASE("a client reset during a spliced transfer closes the upstream") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    constexpr size_t kChunk = 256 * 1024;
    try {
      for (size_t i = 0; i < 4096; ++i) { // bounded: 1 GiB at most
        peer.send(pattern(kChunk, i * kChunk));
      }
    } catch (const std::exception&) {
      // EPIPE or ECONNRESET once the proxy let go: the script ends.
    }
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  openTunnel(client, upstream);
  CHECK(client.readExactly(1024 * 1024) == pattern(1024 * 1024));
  client.reset();
  CHECK_FALSE(proxy.waitForLog({"access", "method=CONNECT", "status=200"}).empty());
  CHECK_FALSE(proxy.waitForLog({"tunnel to", "ended: ", "(spliced)"}).empty());
  CHECK(proxy.server().counters().splicedTunnels.load() == 1);
}
