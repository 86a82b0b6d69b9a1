// The connection's lifecycle defects of issue 11, each through a running proxy: every test
// here failed on the connection before the rebuild.

#include <atomic>
#include <cerrno>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"
#include "gatehouse/uv/tcp.h"

using namespace gatehouse::test;
using namespace std::chrono_literals;

namespace {

std::string get(const FakeUpstream& upstream, std::string_view path, std::string_view extra = "") {
  return "GET http://" + upstream.hostPort() + std::string(path) +
         " HTTP/1.1\r\nHost: " + upstream.hostPort() + "\r\n" + std::string(extra) + "\r\n";
}

int statusOf(ProxyHarness& proxy, const std::string& request) {
  Socket client = proxy.connect();
  client.sendAll(request);
  return readResponse(client).status;
}

} // namespace

TEST_CASE("a close-delimited response reaches a slow reader whole: linger starts at the FIN") {
  // 32 MiB cannot sit in loopback socket buffers: most of it is still queued in the proxy when
  // the upstream closes. The old connection started its 5 s linger clock then and cut the
  // response; the client here reads nothing for 6 s, as a slow or busy client may.
  constexpr size_t kSize = 32 * 1024 * 1024;
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    peer.send(std::string(kSize, 'x'));
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  // HTTP/1.0, so the body reaches the client close-delimited too (1.1 clients get chunks).
  client.sendAll("GET http://" + upstream.hostPort() + "/until-close HTTP/1.0\r\n\r\n");
  std::this_thread::sleep_for(6s); // the slow reader (behaviour under test, not a sync)
  bool reset = false;
  std::string got = client.readToEnd(&reset, 30s);
  size_t bodyStart = got.find("\r\n\r\n");
  REQUIRE(bodyStart != std::string::npos);
  CHECK(got.size() - bodyStart - 4 == kSize);
  CHECK_FALSE(reset);
}

TEST_CASE("a request with a non-WebSocket Upgrade answered 200 leaves the connection usable") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("fine")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/h2c",
                     "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                     "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"));
  Response first = readResponse(client);
  CHECK(first.status == 200);
  client.sendAll(get(upstream, "/next"));
  Response second = readResponse(client);
  CHECK(second.status == 200);
  CHECK(second.body == "fine");
  REQUIRE(upstream.waitForRequests(2));
  CHECK(upstream.requests()[0].find("Upgrade") == std::string::npos); // hop-by-hop, stripped
}

TEST_CASE("after a pooled upstream closes, a bodiless POST is not sent again - a GET is") {
  // Each upstream connection answers its first request and closes on the second without a
  // word: the proxy sees a reused connection fail before any response byte.
  std::atomic<int> posts{0};
  FakeUpstream upstream([&posts](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    if (head.rfind("POST", 0) == 0) {
      ++posts;
    }
    peer.send(FakeUpstream::okResponse("one"));
    head = peer.readHead();
    if (head.rfind("POST", 0) == 0) {
      ++posts;
      return; // closes without answering
    }
    // A GET that reaches a second connection is answered there (see below).
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/warm"));
  CHECK(readResponse(client).status == 200);
  client.sendAll("POST http://" + upstream.hostPort() +
                 "/pay HTTP/1.1\r\nHost: " + upstream.hostPort() + "\r\nContent-Length: 0\r\n\r\n");
  Response post = readResponse(client);
  CHECK(post.status == 502);
  CHECK(posts.load() == 1); // never a second POST
  CHECK(upstream.connectionCount() == 1);
}

TEST_CASE("Host: missing in HTTP/1.1, repeated or invalid is a 400 - OWS around values is not") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy;
  const std::string target = "http://" + upstream.hostPort() + "/";
  CHECK(statusOf(proxy, "GET " + target + " HTTP/1.1\r\n\r\n") == 400);
  CHECK(statusOf(proxy, "GET " + target + " HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == 400);
  for (const char* bad : {"a b", "x@h", "h/x", "h, h", "h:port", "[::1"}) {
    INFO(bad);
    CHECK(statusOf(proxy, "GET " + target + " HTTP/1.1\r\nHost: " + bad + "\r\n\r\n") == 400);
  }
  CHECK(statusOf(proxy, "GET " + target + " HTTP/1.0\r\n\r\n") == 200); // 1.0 may omit it
  CHECK(statusOf(proxy, "GET " + target + " HTTP/1.1\r\nHost: other.test:8080\r\n\r\n") == 200);
  CHECK(upstream.requests().back().find("Host: " + upstream.hostPort()) != std::string::npos);
  // RFC 9110 5.5: whitespace around a field value is not part of it.
  for (const char* te : {"chunked ", "chunked\t", " chunked"}) {
    INFO(te);
    CHECK(statusOf(proxy, "POST " + target + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                              "\r\n\r\n3\r\nabc\r\n0\r\n\r\n") == 200);
  }
}

TEST_CASE("an invalid chunk-size line that came with the head: 400 and nothing sent upstream") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("POST http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 400);
  CHECK(client.waitForClose());
  CHECK(upstream.connectionCount() == 0);
}

TEST_CASE("a connection that sends nothing gets 408 and a log line at request_head_timeout") {
  auto config = testConfig();
  config.requestHeadTimeoutMs = 300;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  Response r = readResponse(client);
  CHECK(r.status == 408);
  CHECK_FALSE(proxy.waitForLog({"request_timeout", "no request within 300 ms", "end=cR"}).empty());
}

TEST_CASE("Expect: 100-continue with a silent upstream is the upstream's timeout, not a 408") {
  auto config = testConfig();
  config.readTimeoutMs = 400;
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.stall(); // neither 100 nor a final answer
  });
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll("POST http://" + upstream.hostPort() +
                 "/upload HTTP/1.1\r\nHost: x\r\n"
                 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  Response r = readResponse(client); // the client waits for 100, correctly
  CHECK(r.status != 408);
  CHECK(r.status == 598);
  CHECK_FALSE(proxy.waitForLog({"error=connection_read_timeout", "no 100 Continue"}).empty());
}

TEST_CASE("a chunked response cut by the upstream ends with a FIN and no last chunk") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    // then the connection closes without the last chunk
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/chunks"));
  bool reset = false;
  std::string got = client.readToEnd(&reset);
  CHECK_FALSE(reset);
  CHECK(got.find("5\r\nhello\r\n") != std::string::npos);
  CHECK(got.find("0\r\n\r\n") == std::string::npos); // never a fake end
  CHECK_FALSE(proxy.waitForLog({"access", "status=200", "end=SD"}).empty());
}

TEST_CASE("an upstream that stops reading the request body is its fault, not the client's") {
  auto config = testConfig();
  // Long enough that a busy machine never stalls the sending thread this long: a 408 here
  // must mean the proxy blamed the client.
  config.readTimeoutMs = 1500;
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.stall(); // reads no body: the proxy's write queue fills
  });
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  constexpr size_t kSize = 64 * 1024 * 1024;
  client.sendAll("POST http://" + upstream.hostPort() +
                 "/big HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: " +
                 std::to_string(kSize) + "\r\n\r\n");
  // The client sends as fast as it is let; the send fails once the proxy answers and closes.
  std::thread sender([&client] {
    try {
      client.sendAll(std::string(kSize, 'b'));
    } catch (const std::exception&) {
    }
  });
  std::string line = proxy.waitForLog({"status="}, 20s);
  sender.join();
  CHECK(line.find("status=408") == std::string::npos);
  CHECK(line.find("upstream stopped reading the request body") != std::string::npos);
}

TEST_CASE("an upload to a TLS origin that never finishes its handshake is paused, not buffered",
          "[lifecycle]") {
  // The origin accepts TCP and then says nothing: the proxy's ClientHello goes unanswered.
  // Everything the client uploads meanwhile used to pile up in the TLS session without bound.
  auto config = testConfig();
  config.readTimeoutMs = 1500;
  FakeUpstream silent([](UpstreamPeer& peer) { peer.stall(); });
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  constexpr size_t kSize = 64 * 1024 * 1024;
  client.sendAll("POST https://" + silent.hostPort() +
                 "/upload HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: " +
                 std::to_string(kSize) + "\r\n\r\n");
  std::thread sender([&client] {
    try {
      client.sendAll(std::string(kSize, 'u'));
    } catch (const std::exception&) {
    }
  });
  std::string line = proxy.waitForLog({"access", "status="}, 30s);
  sender.join();
  CHECK(line.find("status=598") != std::string::npos);
  CHECK_FALSE(proxy.waitForLog({"upstream stopped reading the request body"}).empty());
  // What the proxy took from the client is bounded by its watermarks, not the upload's size.
  size_t in = line.find(" in=");
  REQUIRE(in != std::string::npos);
  CHECK(std::stoull(line.substr(in + 4)) < 16u * 1024 * 1024);
}

TEST_CASE("a client write that fails at once ends the exchange as the client's and closes") {
  // Defect 5: libuv never calls back for a write that fails at once (UV_EPIPE once the stream
  // is no longer writable), so the caller must end the exchange itself. The failure is
  // injected into the one write that carries the second chunk (uv::testing::failNextWrites).
  std::promise<void> sendSecond;
  std::shared_future<void> secondAllowed = sendSecond.get_future().share();
  FakeUpstream upstream([secondAllowed](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
    if (secondAllowed.wait_for(kIoTimeout) == std::future_status::ready) {
      peer.send("6\r\nsecond\r\n0\r\n\r\n");
    }
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/two-chunks"));
  std::string got = client.readUntil("5\r\nfirst\r\n");
  const size_t headSize = got.find("\r\n\r\n") + 4;
  // The proxy has written everything it had; the next write in this process is its write of
  // the second chunk to the client.
  gatehouse::uv::testing::failNextWrites(1, -EPIPE);
  sendSecond.set_value();
  bool reset = false;
  got += client.readToEnd(&reset);
  gatehouse::uv::testing::failNextWrites(0, 0);
  CHECK(got.find("second") == std::string::npos);
  CHECK(reset); // closed at once: no fake last chunk, no keep-alive
  std::string line = proxy.waitForLog({"access", "/two-chunks"});
  CAPTURE(line, headSize);
  CHECK(line.find("status=200") != std::string::npos); // the head the client did get
  CHECK(line.find("end=CD") != std::string::npos);     // the client's end, relaying the body
  CHECK(line.find("error=client_closed") != std::string::npos);
  // Only what was written counts: the head and the first chunk's 5 bytes.
  CHECK(line.find(" out=" + std::to_string(headSize + 5) + " ") != std::string::npos);
  CHECK_FALSE(proxy.waitForLog({"left during read-body", "end=CD"}).empty());
}

TEST_CASE("a client that stops reading a response is cut after idle_timeout without progress") {
  // The response waits in the proxy's write queue (and the upstream's read timer is paused by
  // the backpressure): before, nothing ever ended such an exchange, and a client that read
  // the head and then nothing held both connections for as long as it stayed.
  auto config = testConfig();
  config.idleTimeoutMs = 1000;
  constexpr size_t kSize = 256 * 1024 * 1024; // far more than socket buffers hold
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    const std::string block(1024 * 1024, 'x');
    for (size_t sent = 0; sent < kSize; sent += block.size()) {
      peer.send(block); // throws once the proxy closes this connection
    }
  });
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/big"));
  CHECK(client.readUntil("\r\n\r\n").rfind("HTTP/1.1 200 ", 0) == 0);
  // From here the client reads nothing until the proxy has given up on it.
  std::string line = proxy.waitForLog({"the client took no byte of the response for 1000 ms"}, 20s);
  REQUIRE_FALSE(line.empty());
  CHECK_FALSE(proxy.waitForLog({"access", "status=499", "end=cD"}).empty());
  bool reset = false;
  client.readToEnd(&reset, 10s);
  CHECK(reset); // the queued rest cannot be delivered: a reset, not a FIN that looks complete
}
