// Absolute-form forwarding through a real proxy over loopback sockets.

#include <future>

#include <catch2/catch.hpp>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {
std::string get(const FakeUpstream& upstream, std::string_view path, std::string_view extra = "") {
  return "GET http://" + upstream.hostPort() + std::string(path) +
         " HTTP/1.1\r\nHost: ignored\r\n" + std::string(extra) + "\r\n";
}
} // namespace

TEST_CASE("a GET is forwarded in origin-form with Host from the target and Via added") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("hello")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/a/b?x=1",
                     "Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n"
                     "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
                     "Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-End: 2\r\nX-End: 3\r\n"));
  Response r = readResponse(client);
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
  CHECK(r.header("via") == "1.1 gh-test");
  REQUIRE(upstream.waitForRequests(1));
  std::string seen = upstream.requests().at(0);
  CHECK(seen.rfind("GET /a/b?x=1 HTTP/1.1\r\nHost: " + upstream.hostPort() + "\r\n", 0) == 0);
  CHECK(seen.find("ignored") == std::string::npos);
  CHECK(seen.find("Proxy-Authorization") == std::string::npos);
  CHECK(seen.find("c2VjcmV0") == std::string::npos);
  CHECK(seen.find("X-Hop") == std::string::npos);
  CHECK(seen.find("Keep-Alive") == std::string::npos);
  CHECK(seen.find("Proxy-Connection") == std::string::npos);
  CHECK(seen.find("TE:") == std::string::npos);
  // Duplicates stay, in order.
  CHECK(seen.find("X-End: 2\r\nX-End: 3\r\n") != std::string::npos);
  CHECK(seen.find("Via: 1.1 gh-test\r\n") != std::string::npos);
}

TEST_CASE("response hop-by-hop fields are removed and Via is added") {
  FakeUpstream upstream(FakeUpstream::serve(
      "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nProxy-Authenticate: Basic\r\n"
      "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok"));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/"));
  Response r = readResponse(client);
  CHECK(r.status == 200);
  CHECK_FALSE(r.hasHeader("x-secret"));
  CHECK_FALSE(r.hasHeader("proxy-authenticate"));
  CHECK_FALSE(r.hasHeader("upgrade"));
  CHECK(r.headerCount("set-cookie") == 2);
  CHECK(r.header("via") == "1.1 gh-test");
}

TEST_CASE("Connection naming Connection or Via cannot strip the proxy's own fields") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("x")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/", "Connection: Connection, Via, Host, Content-Length\r\n"));
  Response r = readResponse(client);
  CHECK(r.status == 200);
  REQUIRE(upstream.waitForRequests(1));
  std::string seen = upstream.requests().at(0);
  CHECK(seen.find("Via: 1.1 gh-test") != std::string::npos);
  CHECK(seen.find("Host: " + upstream.hostPort()) != std::string::npos);
}

TEST_CASE("keep-alive: two requests share one client and one upstream connection") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("one")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  for (int i = 0; i < 3; ++i) {
    client.sendAll(get(upstream, "/k"));
    Response r = readResponse(client);
    CHECK(r.status == 200);
    CHECK(r.body == "one");
  }
  CHECK(upstream.connectionCount() == 1);
  CHECK(proxy.server().counters().upstreamReuses.load() == 2);
}

TEST_CASE("pipelined requests get their responses in order") {
  int n = 0;
  FakeUpstream upstream([&n](UpstreamPeer& peer) {
    while (true) {
      std::string head = peer.readHead();
      std::string path = head.substr(4, head.find(' ', 4) - 4);
      peer.send(FakeUpstream::okResponse(path));
      ++n;
    }
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/first") + get(upstream, "/second") + get(upstream, "/third"));
  CHECK(readResponse(client).body == "/first");
  CHECK(readResponse(client).body == "/second");
  CHECK(readResponse(client).body == "/third");
}

TEST_CASE("large bodies stream both ways with Content-Length and chunked framing") {
  const std::string big(3 * 1024 * 1024 + 7, 'z');
  FakeUpstream upstream([&big](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    std::string body = peer.readBody(head);
    peer.send("HTTP/1.1 200 OK\r\nX-Got: " + std::to_string(body.size()) +
              "\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t off = 0; off < big.size(); off += 100000) {
      std::string piece = big.substr(off, 100000);
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
      peer.send(size + piece + "\r\n");
    }
    peer.send("0\r\nX-Trailer: yes\r\n\r\n");
    peer.stall();
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("POST http://" + upstream.hostPort() +
                 "/up HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(big.size()) +
                 "\r\n\r\n");
  client.sendAll(big);
  Response r = readResponse(client);
  CHECK(r.status == 200);
  CHECK(r.header("x-got") == std::to_string(big.size()));
  CHECK(r.chunked);
  CHECK(r.body == big);
  CHECK(r.trailers == "X-Trailer: yes\r\n");
}

TEST_CASE("a chunked request body is re-framed as chunked upstream, trailers kept") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    std::string body = peer.readBody(head);
    peer.send(FakeUpstream::okResponse(body));
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("POST http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 200);
  CHECK(r.body == "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
  REQUIRE(upstream.waitForRequests(1));
  CHECK(upstream.requests()[0].find("Transfer-Encoding: chunked") != std::string::npos);
}

TEST_CASE("a response head reaches the client before a body that comes later") {
  // The proxy holds a head back to send it with the body bytes of the same read; a head read
  // alone must still go out at once (long polls, slow origins). The upstream sends the body
  // only after the client has seen the head, so a held head would hang this test.
  std::promise<void> headSeen;
  std::shared_future<void> headSeenFuture = headSeen.get_future().share();
  FakeUpstream upstream([headSeenFuture](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    if (headSeenFuture.wait_for(kIoTimeout) == std::future_status::ready) {
      peer.send("later");
    }
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/slow"));
  std::string head = client.readUntil("\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  headSeen.set_value();
  CHECK(client.readExactly(5) == "later");
}

TEST_CASE("HEAD, 204 and 304 responses carry no body even with Content-Length") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    while (true) {
      std::string head = peer.readHead();
      if (head.rfind("HEAD", 0) == 0) {
        peer.send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
      } else if (head.find("/204") != std::string::npos) {
        peer.send("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
      } else {
        peer.send("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
      }
    }
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("HEAD http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  Response head = readResponse(client, true);
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "1234");
  client.sendAll(get(upstream, "/204"));
  Response noContent = readResponse(client);
  CHECK(noContent.status == 204);
  CHECK_FALSE(noContent.hasHeader("content-length"));
  client.sendAll(get(upstream, "/304"));
  Response notModified = readResponse(client);
  CHECK(notModified.status == 304);
  // Nothing stray after the bodiless responses: the next exchange parses cleanly.
  client.sendAll("HEAD http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(readResponse(client, true).status == 200);
}

TEST_CASE("a read-until-close response is chunked to HTTP/1.1 and close-delimited to 1.0") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.0 200 OK\r\n\r\nuntil close");
  });
  ProxyHarness proxy;
  {
    Socket client = proxy.connect();
    client.sendAll(get(upstream, "/"));
    Response r = readResponse(client);
    CHECK(r.chunked);
    CHECK(r.body == "until close");
    CHECK(r.header("via") == "1.0 gh-test");
  }
  {
    Socket client = proxy.connect();
    client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.0\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.closedAfter);
    CHECK(r.body == "until close");
    CHECK(r.header("connection") == "close");
  }
}

TEST_CASE("Expect: 100-continue is relayed") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    peer.send("HTTP/1.1 100 Continue\r\n\r\n");
    std::string body = peer.readBody(head);
    peer.send(FakeUpstream::okResponse(body));
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("PUT http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  Response interim = readResponse(client);
  CHECK(interim.status == 100);
  client.sendAll("data");
  Response r = readResponse(client);
  CHECK(r.status == 200);
  CHECK(r.body == "data");
}

TEST_CASE("origin and redirect responses and 401 pass through untouched") {
  FakeUpstream upstream(FakeUpstream::serve(
      "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"origin\"\r\n"
      "Location: /elsewhere\r\nContent-Length: 0\r\n\r\n"));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/", "Authorization: Basic b3JpZ2luOnNlY3JldA==\r\n"));
  Response r = readResponse(client);
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate") == "Basic realm=\"origin\"");
  CHECK(r.header("location") == "/elsewhere");
  REQUIRE(upstream.waitForRequests(1));
  CHECK(upstream.requests()[0].find("Authorization: Basic b3JpZ2luOnNlY3JldA==") !=
        std::string::npos);
}

TEST_CASE("an origin-form request to the proxy gets 400 with a how-to page") {
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 400);
  CHECK(r.body.find("This is a proxy") != std::string::npos);
  CHECK(r.body.find("curl -x") != std::string::npos);
}

TEST_CASE("a request carrying our own Via pseudonym is a loop: 508") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("x")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/", "Via: 1.1 other, 1.1 gh-test\r\n"));
  Response r = readResponse(client);
  CHECK(r.status == 508);
  CHECK(r.header("proxy-status").find("error=proxy_loop_detected") != std::string::npos);
  CHECK(upstream.requests().empty());
}

TEST_CASE("Max-Forwards: the proxy answers OPTIONS and TRACE at 0 and decrements otherwise") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("OPTIONS http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n");
  Response options = readResponse(client);
  CHECK(options.status == 200);
  CHECK(options.header("allow").find("CONNECT") != std::string::npos);
  client.sendAll("TRACE http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n");
  CHECK(readResponse(client).status == 405);
  client.sendAll("OPTIONS http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\nMax-Forwards: 5\r\n\r\n");
  CHECK(readResponse(client).status == 200);
  REQUIRE(upstream.waitForRequests(1));
  CHECK(upstream.requests()[0].find("Max-Forwards: 4\r\n") != std::string::npos);
}

TEST_CASE("the access log has one line per request with status, bytes and upstream") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("12345")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/logged"));
  readResponse(client);
  std::string line =
      proxy.waitForLog({"access", "/logged", "status=200", "upstream=" + upstream.hostPort()});
  CHECK_FALSE(line.empty());
}

TEST_CASE("listeners on IPv4 and IPv6 at once, each with its own port 0") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("both")));
  auto config = testConfig();
  config.listen = {"127.0.0.1:0", "[::1]:0"};
  config.workers = 2; // both loops accept on both addresses (SO_REUSEPORT)
  ProxyHarness proxy(config);
  const auto& bound = proxy.server().boundAddresses();
  REQUIRE(bound.size() == 2);
  CHECK(bound[1].toString().rfind("[::1]:", 0) == 0);
  for (int i = 0; i < 4; ++i) {
    Socket client = Socket::connectTo(bound[i % 2].port(), i % 2 == 1);
    client.sendAll(get(upstream, "/v6"));
    Response r = readResponse(client);
    CHECK(r.status == 200);
    CHECK(r.body == "both");
  }
}

// ---- Content-Length bodies moved with splice(2) -------------------------------------------

namespace {

// Answers every request on the connection with `size` pattern bytes, sent in pieces so the
// proxy sees the head and the body arrive at different times.
FakeUpstream::Script servePattern(size_t size) {
  return [size](UpstreamPeer& peer) {
    while (true) { // until readHead() throws at the proxy's close
      peer.readHead();
      peer.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
      std::string body = pattern(size);
      for (size_t off = 0; off < size; off += 300000) {
        peer.send(std::string_view(body).substr(off, 300000));
      }
    }
  };
}
} // namespace

TEST_CASE("Content-Length bodies are spliced to the client byte-exact and keep-alive goes on") {
  const bool splice = GENERATE(true, false);
  CAPTURE(splice);
  constexpr size_t kSize = 5 * 1024 * 1024 + 3;
  FakeUpstream upstream(servePattern(kSize));
  auto config = testConfig();
  config.splice = splice;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  for (int i = 0; i < 3; ++i) { // the parser stays in step across spliced messages
    client.sendAll(get(upstream, "/big"));
    Response r = readResponse(client);
    REQUIRE(r.status == 200);
    CHECK(r.body.size() == kSize);
    CHECK(r.body == pattern(kSize));
  }
  CHECK(upstream.connectionCount() == 1);
  if (splice) {
    CHECK(proxy.server().counters().splicedBodyBytes.load() > 0);
  } else {
    CHECK(proxy.server().counters().splicedBodyBytes.load() == 0);
  }
}

TEST_CASE("a spliced body still reaches a client that reads slowly and in order") {
  constexpr size_t kSize = 8 * 1024 * 1024;
  FakeUpstream upstream(servePattern(kSize));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/big"));
  // Read in small pieces: the client's socket fills, the proxy's write queue takes over and
  // backpressure pauses the upstream; no byte may be lost or reordered on the way.
  std::string head = client.readUntil("\r\n\r\n");
  std::string body = client.takeBuffered();
  while (body.size() < kSize) {
    body += client.readSome();
  }
  CHECK(body.size() == kSize);
  CHECK(body == pattern(kSize));
  CHECK(proxy.server().counters().splicedBodyBytes.load() > 0);
}

TEST_CASE("an upstream that stops mid-way through a spliced Content-Length body: FIN, short body") {
  // The framing shows the cut (fewer bytes than Content-Length), so the client keeps what it
  // got and sees a clean FIN, as curl's "N bytes remaining" expects; a reset would throw the
  // received bytes away in some clients.
  constexpr size_t kSize = 4 * 1024 * 1024;
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    peer.send(pattern(kSize / 2)); // then the connection closes
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(get(upstream, "/cut"));
  bool reset = false;
  std::string got = client.readToEnd(&reset);
  size_t bodyStart = got.find("\r\n\r\n");
  REQUIRE(bodyStart != std::string::npos);
  std::string body = got.substr(bodyStart + 4);
  CHECK(body.size() == kSize / 2); // every byte the upstream sent arrived
  CHECK(body == pattern(body.size()));
  CHECK_FALSE(reset);
  CHECK(proxy.server().counters().splicedBodyBytes.load() > 0);
  CHECK_FALSE(
      proxy.waitForLog({"access", "error=connection_terminated", "phase=read-body", "end=SD"})
          .empty());
}
