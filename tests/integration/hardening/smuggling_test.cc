// Hostile inputs through a running proxy: each is refused with the right status and one log
// line, nothing of it reaches the upstream, and a normal request still works afterwards.

#include <catch2/catch.hpp>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {

struct Hostile {
  const char* name;
  std::string headTail; // fields after the request line, through the blank line, plus body
  int status;
  const char* logged;
};

void checkNormalRequestWorks(ProxyHarness& proxy, FakeUpstream& upstream) {
  Socket client = proxy.connect();
  client.sendAll("GET http://" + upstream.hostPort() + "/normal HTTP/1.1\r\nHost: x\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 200);
}

} // namespace

TEST_CASE("request smuggling inputs are refused before anything reaches the upstream") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy;
  const Hostile inputs[] = {
      // llhttp itself refuses these; its reason is logged.
      {"CL.TE", "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400,
       "Content-Length can't be present with Transfer-Encoding"},
      {"TE.CL", "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX", 400,
       "Content-Length can't be present with Transfer-Encoding"},
      {"chunked, identity", "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400,
       "Transfer-Encoding"},
      {"xchunked", "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, "is not exactly"},
      {"duplicated TE", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400, "Transfer-Encoding"},
      {"bare CR", "X:\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "CR not followed by LF"},
      {"folded Content-Length", "X: a\r\n Content-Length: 5\r\n\r\nhello", 400,
       "obsolete line folding"},
      {"NUL byte", std::string("X: a\0b\r\n\r\n", 9), 400, "NUL byte"},
      {"bare LF", "Host: a\nX: b\r\n\r\n", 400, "bare LF"},
      {"space before colon", "Content-Length : 5\r\n\r\nhello", 400, "whitespace between"},
      {"empty field name", ": x\r\n\r\n", 400, "empty field name"},
      {"two Content-Lengths", "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, ""},
      {"huge Content-Length", "Content-Length: 18446744073709551615\r\n\r\n", 400, ""},
  };
  for (const Hostile& h : inputs) {
    INFO(h.name);
    Socket client = proxy.connect();
    client.sendAll("POST http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n" + h.headTail);
    Response r = readResponse(client);
    CHECK(r.status == h.status);
    CHECK(r.header("connection") == "close");
    CHECK(client.waitForClose());
    CHECK_FALSE(proxy
                    .waitForLog({"phase=read-head", "method=POST",
                                 "status=" + std::to_string(h.status), h.logged})
                    .empty());
    checkNormalRequestWorks(proxy, upstream);
  }
  // Only the normal requests ever reached the upstream.
  for (const std::string& seen : upstream.requests()) {
    CHECK(seen.find("/normal") != std::string::npos);
  }
}

TEST_CASE("bytes after a complete request are never read as a second request when malformed") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("GET http://" + upstream.hostPort() +
                 "/first HTTP/1.1\r\nHost: a\r\n\r\n"
                 "\rXGET http://" +
                 upstream.hostPort() + "/smuggled HTTP/1.1\r\n\r\n");
  CHECK(readResponse(client).status == 200);
  Response second = readResponse(client);
  CHECK(second.status == 400);
  CHECK(client.waitForClose());
  REQUIRE(upstream.waitForRequests(1));
  for (const std::string& seen : upstream.requests()) {
    CHECK(seen.find("/smuggled") == std::string::npos);
  }
}

TEST_CASE("a bad chunk in a request body ends the exchange without smuggling anything") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    while (true) {
      std::string head = peer.readHead();
      peer.readBody(head);
      peer.send(FakeUpstream::okResponse("ok"));
    }
  });
  ProxyHarness proxy;
  for (std::string body : {std::string("ffffffffffffffff\r\n"), std::string("1\r\nAXX0\r\n\r\n"),
                           std::string("1;a=") + std::string(5000, 'x') + "\r\nx\r\n0\r\n\r\n"}) {
    Socket client = proxy.connect();
    client.sendAll("POST http://" + upstream.hostPort() +
                   "/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body +
                   "GET http://" + upstream.hostPort() + "/smuggled HTTP/1.1\r\n\r\n");
    bool reset = false;
    std::string answer = client.readToEnd(&reset);
    CHECK(answer.find("200 OK") == std::string::npos);
    checkNormalRequestWorks(proxy, upstream);
  }
  for (const std::string& seen : upstream.requests()) {
    CHECK(seen.find("/smuggled") == std::string::npos);
  }
}

TEST_CASE("Connection: Connection is handled safely (tinyproxy CVE-2023-49606)") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("GET http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\nConnection: Connection\r\nConnection: connection, "
                 "connection\r\n\r\n");
  CHECK(readResponse(client).status == 200);
  checkNormalRequestWorks(proxy, upstream);
}

TEST_CASE("limits: oversized head 431, long target 414, too many fields 431, bad version 505") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = testConfig();
  config.maxHeadSize = 4096;
  config.maxTargetLength = 200;
  config.maxHeaderFields = 10;
  ProxyHarness proxy(config);
  auto send = [&](const std::string& raw) {
    Socket client = proxy.connect();
    client.sendAll(raw);
    return readResponse(client).status;
  };
  const std::string target = "http://" + upstream.hostPort() + "/";
  CHECK(send("GET " + target + " HTTP/1.1\r\nX: " + std::string(5000, 'a') + "\r\n\r\n") == 431);
  CHECK(send("GET " + target + std::string(300, 'a') + " HTTP/1.1\r\n\r\n") == 414);
  std::string many;
  for (int i = 0; i < 20; ++i) {
    many += "X-" + std::to_string(i) + ": 1\r\n";
  }
  CHECK(send("GET " + target + " HTTP/1.1\r\n" + many + "\r\n") == 431);
  CHECK(send("GET " + target + " HTTP/2.0\r\n\r\n") == 505);
  CHECK(send("GET http://user:pw@" + upstream.hostPort() + "/ HTTP/1.1\r\n\r\n") == 400);
  checkNormalRequestWorks(proxy, upstream);
  CHECK(upstream.requests().size() == 1);
}

TEST_CASE("a slow client (slow-loris) gets 408 and is closed") {
  auto config = testConfig();
  config.requestHeadTimeoutMs = 300;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll("GET http://127.0.0.1/ HTTP/1.1\r\nX-Slow: ");
  Response r = readResponse(client);
  CHECK(r.status == 408);
  CHECK(client.waitForClose());
  CHECK_FALSE(proxy.waitForLog({"request_timeout", "status=408"}).empty());
}

TEST_CASE("an idle keep-alive client is closed after idle-timeout") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = testConfig();
  config.idleTimeoutMs = 300;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(readResponse(client).status == 200);
  CHECK(client.waitForClose(std::chrono::milliseconds(5000)));
}

TEST_CASE("hostile responses never reach the client as such") {
  const std::string bad[] = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n Content-Length: 5\r\n\r\nhello",
      std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n", 45),
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "HTTP/1.1 200 OK\r\nX:\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n",
  };
  for (const std::string& reply : bad) {
    INFO(reply);
    FakeUpstream upstream([reply](UpstreamPeer& peer) {
      peer.readHead();
      peer.send(reply);
    });
    ProxyHarness proxy;
    Socket client = proxy.connect();
    client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.status == 502);
    CHECK(r.header("proxy-status").find("error=http_protocol_error") != std::string::npos);
    CHECK(r.head.find("evil") == std::string::npos);
  }
}

TEST_CASE("a 204 or 304 with a body: the body is never relayed as the next response") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 204 No Content\r\nContent-Length: 38\r\n\r\nHTTP/1.1 200 "
              "OK\r\nContent-Length: 0\r\n\r\n");
    peer.stall();
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 204);
  // The connection stays usable and nothing else arrives for this request.
  client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  Response next = readResponse(client);
  CHECK(next.status != 200);
}

TEST_CASE("a target with userinfo is refused and its password never reaches a log line") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll("GET http://user:hunter2@" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(readResponse(client).status == 400);
  CHECK_FALSE(proxy.waitForLog({"access", "status=400", "***@"}).empty());
  for (const std::string& line : LogCapture::instance().linesSince(proxy.logMark())) {
    CHECK(line.find("hunter2") == std::string::npos);
  }
}
