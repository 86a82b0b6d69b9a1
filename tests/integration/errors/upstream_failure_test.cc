// Every row of the upstream-failure table, driven by a misbehaving fake upstream (or fake DNS)
// over real sockets. Timings come from short configured timeouts.

#include <catch2/catch.hpp>
#include <thread>

#include "../support/fake_dns.h"
#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {

std::string getFor(const std::string& hostPort, std::string_view extra = "") {
  return "GET http://" + hostPort + "/f HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

// Sends one request and reads the proxy's answer.
Response fetch(ProxyHarness& proxy, const std::string& request) {
  Socket client = proxy.connect();
  client.sendAll(request);
  return readResponse(client);
}

// The test configuration with the fake DNS server as the only resolver.
gatehouse::config::Config configWithDns(const FakeDns& dns) {
  auto config = testConfig();
  config.dnsServers = dns.server();
  return config;
}

void checkProxyStatus(const Response& r, const std::string& type) {
  INFO(r.head);
  CHECK(r.header("proxy-status").rfind("gh-test; error=" + type, 0) == 0);
  CHECK_FALSE(r.header("x-request-id").empty());
}

FakeUpstream::Script replyAfterHead(std::string reply, bool thenReset = false) {
  return [reply, thenReset](UpstreamPeer& peer) {
    peer.readHead();
    peer.send(reply);
    if (thenReset) {
      peer.socket().reset();
    }
  };
}

} // namespace

TEST_CASE("a name that does not resolve: 502 dns_error with rcode") {
  FakeDns dns({});
  ProxyHarness proxy(configWithDns(dns));
  Response r = fetch(proxy, getFor("nowhere.test"));
  CHECK(r.status == 502);
  checkProxyStatus(r, "dns_error");
  CHECK(r.header("proxy-status").find("rcode=\"NXDOMAIN\"") != std::string::npos);
  CHECK_FALSE(proxy
                  .waitForLog({"dns_not_found", "phase=dns", "error=dns_error", "status=502",
                               "target=\"http://nowhere.test/f\""})
                  .empty());
}

TEST_CASE("a name resolved by the fake DNS is fetched") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("named")));
  FakeDns dns(std::map<std::string, std::string>{{"origin.test", "127.0.0.1"}});
  ProxyHarness proxy(configWithDns(dns));
  Response r = fetch(proxy, getFor("origin.test:" + std::to_string(upstream.port())));
  CHECK(r.status == 200);
  CHECK(r.body == "named");
  REQUIRE(upstream.waitForRequests(1));
  CHECK(upstream.requests()[0].find("Host: origin.test:" + std::to_string(upstream.port())) !=
        std::string::npos);
}

TEST_CASE("every resolved address is tried in turn") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("second address")));
  // 127.0.0.2 is loopback too, but nothing listens there on this port: refused, then 127.0.0.1.
  FakeDns dns(std::map<std::string, std::string>{{"two.test", "127.0.0.2,127.0.0.1"}});
  ProxyHarness proxy(configWithDns(dns));
  Response r = fetch(proxy, getFor("two.test:" + std::to_string(upstream.port())));
  CHECK(r.status == 200);
  CHECK(r.body == "second address");
  CHECK_FALSE(proxy.waitForLog({"connect to 127.0.0.2:", "failed"}).empty());
}

TEST_CASE("/etc/hosts answers before DNS (localhost)") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("from hosts")));
  FakeDns dns({});
  ProxyHarness proxy(configWithDns(dns));
  Response r = fetch(proxy, getFor("localhost:" + std::to_string(upstream.port())));
  CHECK(r.status == 200);
  CHECK(r.body == "from hosts");
}

TEST_CASE("DNS that does not answer: 504 dns_timeout") {
  FakeDns dns({}, FakeDns::Mode::Silent);
  auto config = configWithDns(dns);
  config.dnsTimeoutMs = 300;
  ProxyHarness proxy(config);
  Response r = fetch(proxy, getFor("slow.test"));
  CHECK(r.status == 504);
  checkProxyStatus(r, "dns_timeout");
  CHECK_FALSE(proxy.waitForLog({"phase=dns", "error=dns_timeout", "status=504"}).empty());
}

TEST_CASE("connection refused: 502 connection_refused") {
  ProxyHarness proxy;
  std::string target = "127.0.0.1:" + std::to_string(unusedPort());
  Response r = fetch(proxy, getFor(target));
  CHECK(r.status == 502);
  checkProxyStatus(r, "connection_refused");
  CHECK(r.header("proxy-status").find("next-hop=\"" + target + "\"") != std::string::npos);
  CHECK_FALSE(proxy
                  .waitForLog({"phase=connect", "error=connection_refused", "ECONNREFUSED",
                               "upstream=" + target})
                  .empty());
}

TEST_CASE("a connect that never completes: 599 connection_timeout (504 in rfc mode)") {
  // A listener that never accepts, its backlog filled: further SYNs go unanswered.
  FakeUpstream blackhole({}, false, 0);
  std::vector<Socket> fillers;
  for (int i = 0; i < 8; ++i) {
    fillers.push_back(Socket::startConnect(blackhole.port()));
  }
  auto config = testConfig();
  config.connectTimeoutMs = 300;
  {
    ProxyHarness proxy(config);
    Response r = fetch(proxy, getFor(blackhole.hostPort()));
    CHECK(r.status == 599);
    checkProxyStatus(r, "connection_timeout");
    CHECK_FALSE(
        proxy.waitForLog({"phase=connect", "error=connection_timeout", "status=599"}).empty());
    // The same through CONNECT.
    Response tunnel = fetch(proxy, "CONNECT " + blackhole.hostPort() + " HTTP/1.1\r\n\r\n");
    CHECK(tunnel.status == 599);
    checkProxyStatus(tunnel, "connection_timeout");
  }
  config.statusMode = gatehouse::errors::StatusMode::Rfc;
  ProxyHarness rfc(config);
  Response r = fetch(rfc, getFor(blackhole.hostPort()));
  CHECK(r.status == 504);
  checkProxyStatus(r, "connection_timeout");
}

TEST_CASE("upstream closes before a response head: 502 connection_terminated") {
  FakeUpstream upstream([](UpstreamPeer& peer) { peer.readHead(); });
  ProxyHarness proxy;
  Response r = fetch(proxy, getFor(upstream.hostPort()));
  CHECK(r.status == 502);
  checkProxyStatus(r, "connection_terminated");
  CHECK_FALSE(proxy.waitForLog({"phase=wait-head", "error=connection_terminated", "EOF"}).empty());
}

TEST_CASE("upstream resets before a response head: 502 connection_terminated") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.socket().reset();
  });
  ProxyHarness proxy;
  Response r = fetch(proxy, getFor(upstream.hostPort()));
  CHECK(r.status == 502);
  checkProxyStatus(r, "connection_terminated");
  CHECK_FALSE(proxy.waitForLog({"error=connection_terminated", "ECONNRESET"}).empty());
}

TEST_CASE("an invalid response becomes 502 http_protocol_error") {
  for (std::string garbage :
       {std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n"), std::string("HTTP/1.1 abc\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nX:\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n"),
        std::string(
            "HTTP/1.1 200 OK\r\nX: a\r\n Set-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n")}) {
    FakeUpstream upstream(replyAfterHead(garbage));
    ProxyHarness proxy;
    Response r = fetch(proxy, getFor(upstream.hostPort()));
    CHECK(r.status == 502);
    checkProxyStatus(r, "http_protocol_error");
    CHECK_FALSE(r.hasHeader("set-cookie"));
  }
}

TEST_CASE("a response head that is too large: 502 http_response_header_section_size") {
  FakeUpstream upstream(
      replyAfterHead("HTTP/1.1 200 OK\r\nX-Big: " + std::string(70'000, 'b') + "\r\n\r\n"));
  ProxyHarness proxy;
  Response r = fetch(proxy, getFor(upstream.hostPort()));
  CHECK(r.status == 502);
  checkProxyStatus(r, "http_response_header_section_size");
}

TEST_CASE("an upstream that stalls after the request: 598 connection_read_timeout") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.stall();
  });
  auto config = testConfig();
  config.readTimeoutMs = 300;
  ProxyHarness proxy(config);
  Response r = fetch(proxy, getFor(upstream.hostPort(), "Accept: application/json\r\n"));
  CHECK(r.status == 598);
  checkProxyStatus(r, "connection_read_timeout");
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("\"error\":\"connection_read_timeout\"") != std::string::npos);
  CHECK_FALSE(
      proxy.waitForLog({"phase=wait-head", "error=connection_read_timeout", "status=598"}).empty());
}

TEST_CASE("a head trickled a byte at a time: 504 http_response_timeout") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    std::string head = "HTTP/1.1 200 OK\r\nX-Slow: " + std::string(1000, 's') + "\r\n\r\n";
    for (char c : head) {
      peer.send(std::string(1, c));
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the upstream's pace
    }
  });
  auto config = testConfig();
  config.readTimeoutMs = 1000;
  config.responseTimeoutMs = 400;
  ProxyHarness proxy(config);
  Response r = fetch(proxy, getFor(upstream.hostPort()));
  CHECK(r.status == 504);
  checkProxyStatus(r, "http_response_timeout");
}

TEST_CASE("a body cut short after the head aborts the client: no fake end") {
  FakeUpstream upstream(replyAfterHead("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(getFor(upstream.hostPort()));
  std::string head = client.readUntil("\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200 OK", 0) == 0);
  bool reset = false;
  std::string rest = client.readToEnd(&reset);
  CHECK(rest.size() < 100);
  CHECK_FALSE(
      proxy.waitForLog({"upstream_body_aborted", "phase=read-body", "(response aborted)"}).empty());
}

TEST_CASE("a chunked body cut short gets no final chunk") {
  FakeUpstream upstream(
      replyAfterHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true));
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(getFor(upstream.hostPort()));
  client.readUntil("\r\n\r\n");
  bool reset = false;
  std::string rest = client.readToEnd(&reset);
  CHECK(rest.find("0\r\n\r\n") == std::string::npos);
}

TEST_CASE("an upstream stalling mid-body is cut after read-timeout and logged") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    peer.stall();
  });
  auto config = testConfig();
  config.readTimeoutMs = 300;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll(getFor(upstream.hostPort()));
  client.readUntil("\r\n\r\n");
  CHECK(client.waitForClose());
  CHECK_FALSE(
      proxy.waitForLog({"phase=read-body", "error=connection_read_timeout", "(response aborted)"})
          .empty());
}

TEST_CASE("a client leaving before the response is logged as 499 with its phase") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.stall();
  });
  ProxyHarness proxy;
  {
    Socket client = proxy.connect();
    client.sendAll(getFor(upstream.hostPort()));
    REQUIRE(upstream.waitForRequests(1));
  }
  CHECK_FALSE(proxy.waitForLog({"access", "status=499", "phase=wait-head"}).empty());
}

TEST_CASE("failures through CONNECT carry the same status and Proxy-Status") {
  FakeDns dns({});
  ProxyHarness proxy(configWithDns(dns));
  Response refused =
      fetch(proxy, "CONNECT 127.0.0.1:" + std::to_string(unusedPort()) + " HTTP/1.1\r\n\r\n");
  CHECK(refused.status == 502);
  checkProxyStatus(refused, "connection_refused");
  Response nx = fetch(proxy, "CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n");
  CHECK(nx.status == 502);
  checkProxyStatus(nx, "dns_error");
}

TEST_CASE("past max-connections the proxy answers 503 and keeps listening") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = testConfig();
  config.maxConnections = 1;
  ProxyHarness proxy(config);
  Socket first = proxy.connect();
  first.sendAll(getFor(upstream.hostPort()));
  CHECK(readResponse(first).status == 200);
  Response limited = fetch(proxy, getFor(upstream.hostPort()));
  CHECK(limited.status == 503);
  checkProxyStatus(limited, "connection_limit_reached");
  first.close();
  // Once the first connection is gone, new clients are served again.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    Response r = fetch(proxy, getFor(upstream.hostPort()));
    served = r.status == 200;
    if (!served) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the close is asynchronous
    }
  }
  CHECK(served);
}

TEST_CASE("a pooled connection the upstream closed is retried once for a bodyless request") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    peer.send(FakeUpstream::okResponse("fresh"));
    // Keep-alive promised, then the connection is dropped before the next request.
    peer.socket().readSome();
  });
  ProxyHarness proxy;
  Socket client = proxy.connect();
  client.sendAll(getFor(upstream.hostPort()));
  CHECK(readResponse(client).body == "fresh");
  client.sendAll(getFor(upstream.hostPort()));
  Response second = readResponse(client);
  CHECK(second.status == 200);
  CHECK(second.body == "fresh");
  CHECK(upstream.connectionCount() == 2);
}
