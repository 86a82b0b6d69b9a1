// The egress policy through a running proxy: rules by host, host file, user, method, port and
// CONNECT; report mode; the SSRF guard on the address actually dialled (odd literals and DNS
// rebinding included); parent proxies. Only loopback is ever contacted: a refused destination
// is refused before any packet goes to it (the fake upstream counts its connections).

#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "../support/fake_dns.h"
#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"
#include "gatehouse/auth/basic_credentials.h"

using namespace gatehouse::test;

namespace {

gatehouse::config::Config configFrom(const std::string& toml) {
  gatehouse::config::Config config = testConfig();
  gatehouse::config::loadString(toml, "policy-test.toml", config);
  gatehouse::config::validate(config);
  return config;
}

std::string get(const std::string& hostPort, const std::string& extra = "") {
  return "GET http://" + hostPort + "/ HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

Response send(ProxyHarness& proxy, const std::string& request) {
  Socket client = proxy.connect();
  client.sendAll(request);
  return readResponse(client);
}

} // namespace

TEST_CASE("rules: a deny by host suffix is a 403 naming the rule - others pass and log theirs",
          "[egress]") {
  FakeDns dns(std::map<std::string, std::string>{{"www.blocked.test", "127.0.0.1"},
                                                 {"ok.test", "127.0.0.1"}});
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = configFrom(R"(
[[rule]]
name = "no-blocked"
action = "deny"
hosts = ["*.blocked.test"]
)");
  config.dnsServers = dns.server();
  ProxyHarness proxy(config);
  const std::string port = std::to_string(upstream.port());
  Response denied = send(proxy, get("www.blocked.test:" + port));
  CHECK(denied.status == 403);
  CHECK(denied.header("proxy-status") ==
        "gh-test; error=http_request_denied; details=\"rule no-blocked\"");
  CHECK(upstream.connectionCount() == 0);
  CHECK_FALSE(proxy.waitForLog({"rule_denied", "rule no-blocked"}).empty());
  CHECK(send(proxy, get("ok.test:" + port)).status == 200);
  CHECK_FALSE(proxy.waitForLog({"access", "status=200", "rule=default"}).empty());
}

TEST_CASE("rules: report mode lets the request through and logs would_deny", "[egress]") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = configFrom(R"(
[[rule]]
name = "trial"
action = "deny"
report = true
methods = ["GET"]
)");
  ProxyHarness proxy(config);
  CHECK(send(proxy, get(upstream.hostPort())).status == 200);
  CHECK_FALSE(proxy.waitForLog({"would_deny rule=trial"}).empty());
  CHECK_FALSE(proxy.waitForLog({"access", "status=200", "would_deny=trial"}).empty());
}

TEST_CASE("rules: users, methods, ports and CONNECT decide in order", "[egress]") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  char dir[] = "/tmp/gatehouse-egress-XXXXXX";
  std::string base = ::mkdtemp(dir);
  std::string users = base + "/users";
  std::ofstream(users) << "alice:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n"
                       << "bob:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n"; // both pa:ss
  auto config = configFrom(R"(
default_action = "deny"

[[rule]]
name = "alice-anything"
action = "allow"
users = ["alice"]

[[rule]]
name = "no-tunnels"
action = "deny"
connect = true

[[rule]]
name = "read-only"
action = "allow"
methods = ["GET", "HEAD"]
ports = [")" + std::to_string(upstream.port()) +
                           R"("]
)");
  config.authFile = users;
  ProxyHarness proxy(config);
  auto as = [](const std::string& user) {
    return "Proxy-Authorization: Basic " + gatehouse::auth::encodeBase64(user + ":pa:ss") + "\r\n";
  };
  CHECK(send(proxy, get(upstream.hostPort(), as("bob"))).status == 200); // read-only
  Response post =
      send(proxy, "POST http://" + upstream.hostPort() +
                      "/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + as("bob") + "\r\n");
  CHECK(post.status == 403);
  CHECK(post.header("proxy-status").find("rule default") != std::string::npos);
  Response tunnel =
      send(proxy, "CONNECT " + upstream.hostPort() + " HTTP/1.1\r\n" + as("bob") + "\r\n");
  CHECK(tunnel.status == 403);
  CHECK(tunnel.header("proxy-status").find("rule no-tunnels") != std::string::npos);
  CHECK(send(proxy, "POST http://" + upstream.hostPort() +
                        "/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + as("alice") + "\r\n")
            .status == 200);
  CHECK_FALSE(proxy.waitForLog({"access", "user=\"alice\"", "rule=alice-anything"}).empty());
  runCommand("rm -rf " + base);
}

TEST_CASE("rules: a 100,000-entry host file decides by suffix", "[egress]") {
  char dir[] = "/tmp/gatehouse-egress-XXXXXX";
  std::string base = ::mkdtemp(dir);
  {
    std::ofstream list(base + "/blocklist.txt");
    list << "# generated\n";
    for (int i = 0; i < 100000; ++i) {
      list << "*.tracker" << i << ".test\n";
    }
  }
  FakeDns dns(std::map<std::string, std::string>{{"a.tracker99999.test", "127.0.0.1"},
                                                 {"a.tracker100000.test", "127.0.0.1"}});
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = configFrom(R"(
[[rule]]
name = "trackers"
action = "deny"
hosts_file = ")" + base + R"(/blocklist.txt"
)");
  config.dnsServers = dns.server();
  ProxyHarness proxy(config);
  const std::string port = std::to_string(upstream.port());
  CHECK(send(proxy, get("a.tracker99999.test:" + port)).status == 403);
  CHECK(send(proxy, get("a.tracker100000.test:" + port)).status == 200);
  runCommand("rm -rf " + base);
}

TEST_CASE("SSRF guard: the address dialled is checked, odd literals and rebinding included",
          "[egress]") {
  // A name that resolves to loopback (DNS rebinding) and loopback written the ways browsers
  // and curl accept: all refused before a packet goes out; the upstream sees nothing.
  FakeDns dns(std::map<std::string, std::string>{{"rebound.test", "127.0.0.1"}});
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = testConfig();
  config.ssrfGuard = true;
  config.dnsServers = dns.server();
  ProxyHarness proxy(config);
  const std::string port = std::to_string(upstream.port());
  for (const std::string& host :
       {std::string("127.0.0.1"), std::string("rebound.test"), std::string("2130706433"),
        std::string("0x7f.1"), std::string("0177.0.0.1"), std::string("[::ffff:127.0.0.1]")}) {
    INFO(host);
    Response r = send(proxy, get(host + ":" + port));
    CHECK(r.status == 403);
    CHECK(r.header("proxy-status").find("error=destination_ip_prohibited") != std::string::npos);
  }
  Response tunnel = send(proxy, "CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\n\r\n");
  CHECK(tunnel.status == 403);
  // The proxy's own listener is always refused (a loop), whatever the guard says.
  CHECK(send(proxy, get("127.0.0.1:" + std::to_string(proxy.port()))).status == 403);
  CHECK(upstream.connectionCount() == 0);
  CHECK_FALSE(proxy.waitForLog({"destination_denied", "loopback"}).empty());
}

TEST_CASE("SSRF guard: an allow rule's cidrs let those addresses through", "[egress]") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = configFrom(R"(
[[rule]]
name = "lab"
action = "allow"
cidrs = ["127.0.0.0/8"]
)");
  config.ssrfGuard = true;
  ProxyHarness proxy(config);
  CHECK(send(proxy, get(upstream.hostPort())).status == 200);
}

TEST_CASE("parents: requests go through the parent with our credentials, never the client's",
          "[egress]") {
  std::vector<std::string> seen;
  std::mutex mutex;
  FakeUpstream parent([&](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    {
      std::lock_guard<std::mutex> lock(mutex);
      seen.push_back(head);
    }
    if (head.rfind("CONNECT ", 0) == 0) {
      peer.send("HTTP/1.1 200 Connection established\r\n\r\n");
      peer.send(peer.socket().readExactly(5)); // echo through the tunnel
      return;
    }
    peer.send(FakeUpstream::okResponse("via parent"));
  });
  auto config = configFrom("upstream_proxy = \"corp\"\n[[parent]]\nname = \"corp\"\n"
                           "url = \"http://gh:parentpw@" +
                           parent.hostPort() + "\"\n");
  ProxyHarness proxy(config);
  Response r = send(proxy, "GET http://origin.test/page HTTP/1.1\r\nHost: origin.test\r\n"
                           "Proxy-Authorization: Basic Y2xpZW50OnNlY3JldA==\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.body == "via parent");
  REQUIRE(parent.waitForRequests(1));
  const std::string ours =
      "Proxy-Authorization: Basic " + gatehouse::auth::encodeBase64("gh:parentpw");
  {
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(seen[0].rfind("GET http://origin.test/page HTTP/1.1\r\n", 0) == 0); // absolute-form
    CHECK(seen[0].find(ours) != std::string::npos);
    CHECK(seen[0].find("Y2xpZW50OnNlY3JldA==") == std::string::npos); // not the client's
  }
  Socket tunnel = proxy.connect();
  tunnel.sendAll("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n");
  std::string established = tunnel.readUntil("\r\n\r\n");
  CHECK(established.rfind("HTTP/1.1 200 ", 0) == 0);
  tunnel.sendAll("hello");
  CHECK(tunnel.readExactly(5) == "hello");
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].rfind("CONNECT origin.test:443 HTTP/1.1\r\n", 0) == 0);
  CHECK(seen[1].find(ours) != std::string::npos);
}

TEST_CASE("parents: a parent's 407 is a 502 configuration error, its Proxy-Status kept",
          "[egress]") {
  FakeUpstream parent([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic "
              "realm=\"parent\"\r\nProxy-Status: parent-proxy; error=http_request_denied\r\n"
              "Content-Length: 0\r\n\r\n");
  });
  auto config = configFrom("upstream_proxy = \"corp\"\n[[parent]]\nname = \"corp\"\n"
                           "url = \"http://gh:wrong@" +
                           parent.hostPort() + "\"\n");
  ProxyHarness proxy(config);
  for (const std::string& request :
       {std::string("GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n"),
        std::string("CONNECT origin.test:443 HTTP/1.1\r\n\r\n")}) {
    INFO(request);
    Response r = send(proxy, request);
    CHECK(r.status == 502);
    CHECK_FALSE(r.hasHeader("proxy-authenticate")); // never passed on as if it were ours
    const std::string status = r.header("proxy-status");
    CHECK(status.rfind("parent-proxy; error=http_request_denied, gh-test; "
                       "error=proxy_configuration_error; details=\"parent proxy corp rejected "
                       "our credentials\"",
                       0) == 0);
  }
  CHECK_FALSE(proxy.waitForLog({"parent proxy corp answered 407 to our credentials"}).empty());
  // Our 502 for a CONNECT says it closes, and does (with a FIN): bytes the client may have
  // sent for the tunnel are never read as a next request.
  Socket client = proxy.connect();
  client.sendAll("CONNECT origin.test:443 HTTP/1.1\r\n\r\n\x16\x03\x01");
  Response refused = readResponse(client);
  CHECK(refused.status == 502);
  CHECK(refused.header("connection") == "close");
  bool reset = true;
  CHECK(client.readToEnd(&reset).empty());
  CHECK_FALSE(reset);
}

TEST_CASE("parents: a parent's refusal of a CONNECT is relayed whole with backpressure, then "
          "the connection closes and early tunnel bytes never reach the parent",
          "[egress]") {
  // 16 MiB: more than the kernel's socket buffers take, so the proxy's write queue to the
  // client passes its high watermark and the relay waits for the client to drain it. Before
  // the fix the connection was still "connecting" then and never passed the drain on.
  const size_t size = 16 * 1024 * 1024;
  std::promise<std::string> afterAnswer; // what reached the parent after our CONNECT head
  FakeUpstream parent([&](UpstreamPeer& peer) {
    std::string head = peer.readHead();
    peer.send("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: " +
              std::to_string(size) + "\r\n\r\n");
    peer.send(pattern(size));
    // The proxy does not keep a connection opened for a refused tunnel: it closes it.
    afterAnswer.set_value(peer.socket().readToEnd());
  });
  auto config = configFrom("upstream_proxy = \"corp\"\n[[parent]]\nname = \"corp\"\n"
                           "url = \"http://" +
                           parent.hostPort() + "\"\n");
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  // Optimistic tunnel bytes right behind the CONNECT: they must wait for the parent's 2xx.
  client.sendAll("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"
                 "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string head = client.readUntil("\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 403 ", 0) == 0);
  CHECK(head.find("Connection: close") != std::string::npos);
  CHECK(client.readExactly(size) == pattern(size));
  bool reset = true;
  CHECK(client.readToEnd(&reset).empty()); // then our FIN: kept bytes are never a next request
  CHECK_FALSE(reset);
  std::future<std::string> rest = afterAnswer.get_future();
  REQUIRE(rest.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(rest.get().empty());
  CHECK_FALSE(proxy.waitForLog({"access", "method=CONNECT", "status=403"}).empty());
}

TEST_CASE("parents: tunnel bytes sent with the CONNECT go through once the parent says 200",
          "[egress]") {
  FakeUpstream parent([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 Connection established\r\n\r\n");
    peer.send(peer.socket().readExactly(5)); // echo through the tunnel
  });
  auto config = configFrom("upstream_proxy = \"corp\"\n[[parent]]\nname = \"corp\"\n"
                           "url = \"http://" +
                           parent.hostPort() + "\"\n");
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\nhello");
  std::string established = client.readUntil("\r\n\r\n");
  CHECK(established.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(client.readExactly(5) == "hello");
}

TEST_CASE("forwarded_for replaces the client's value and Connection cannot remove ours",
          "[egress]") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = configFrom("forwarded_for = \"x-forwarded-for\"\n");
  ProxyHarness proxy(config);
  CHECK(send(proxy, get(upstream.hostPort(), "X-Forwarded-For: 6.6.6.6\r\n"
                                             "Connection: X-Forwarded-For\r\n"))
            .status == 200);
  REQUIRE(upstream.waitForRequests(1));
  const std::string head = upstream.requests()[0];
  CHECK(head.find("X-Forwarded-For: 127.0.0.1\r\n") != std::string::npos);
  CHECK(head.find("6.6.6.6") == std::string::npos);
  // Off by default: an egress proxy does not tell the internet about internal addresses.
  ProxyHarness quiet;
  FakeUpstream other(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  CHECK(send(quiet, get(other.hostPort())).status == 200);
  REQUIRE(other.waitForRequests(1));
  CHECK(other.requests()[0].find("Forwarded") == std::string::npos);
}

TEST_CASE("rules: groups from an htgroup file and client CIDRs", "[egress]") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  char dir[] = "/tmp/gatehouse-egress-XXXXXX";
  std::string base = ::mkdtemp(dir);
  std::ofstream(base + "/users") << "alice:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n"
                                 << "bob:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n"; // both pa:ss
  std::ofstream(base + "/groups") << "engineering: alice\nsales: bob\n";
  auto config = configFrom(R"(
default_action = "deny"

[[rule]]
name = "engineers"
action = "allow"
groups = ["engineering"]

[[rule]]
name = "office-sales"
action = "allow"
groups = ["sales"]
clients = ["10.0.0.0/8"]
)");
  config.authFile = base + "/users";
  config.groupFile = base + "/groups";
  ProxyHarness proxy(config);
  auto as = [](const std::string& user) {
    return "Proxy-Authorization: Basic " + gatehouse::auth::encodeBase64(user + ":pa:ss") + "\r\n";
  };
  CHECK(send(proxy, get(upstream.hostPort(), as("alice"))).status == 200);
  CHECK_FALSE(proxy.waitForLog({"access", "user=\"alice\"", "rule=engineers"}).empty());
  // bob is in sales, but the test client is 127.0.0.1, not in 10.0.0.0/8.
  Response bob = send(proxy, get(upstream.hostPort(), as("bob")));
  CHECK(bob.status == 403);
  CHECK(bob.header("proxy-status").find("rule default") != std::string::npos);
  runCommand("rm -rf " + base);
}
