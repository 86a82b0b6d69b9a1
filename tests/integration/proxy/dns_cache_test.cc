// The resolver's cache through a running proxy and the fake DNS server: a name that does not
// exist is asked once and then answered from the cache (RFC 2308 negative caching), and the
// cache holds a bounded number of names, the least recently used going first.

#include <catch2/catch.hpp>

#include "../support/fake_dns.h"
#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {

// The proxy's status for a GET to http://`host`/ (one connection per request).
int statusFor(ProxyHarness& proxy, const std::string& host) {
  Socket client = proxy.connect();
  client.sendAll("GET http://" + host + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  return readResponse(client).status;
}

} // namespace

TEST_CASE("a name that does not exist is asked once, then answered from the cache") {
  FakeDns dns({});
  auto config = testConfig();
  config.dnsServers = dns.server();
  ProxyHarness proxy(config);
  CHECK(statusFor(proxy, "missing.example.test") == 502);
  // Every query of the lookup (A and AAAA, search domains) was answered before the 502.
  const size_t asked = dns.queries();
  CHECK(asked > 0);
  CHECK(statusFor(proxy, "missing.example.test") == 502);
  CHECK(dns.queries() == asked);
  // The answer from the cache is the same failure, with the same detail.
  CHECK_FALSE(
      proxy.waitForLog({"dns_not_found", "ARES_ENOTFOUND", "missing.example.test"}).empty());

  SECTION("unless negative caching is off") {
    config.dnsNegativeTtlMs = 0;
    ProxyHarness uncached(config);
    CHECK(statusFor(uncached, "other.example.test") == 502);
    const size_t before = dns.queries();
    CHECK(statusFor(uncached, "other.example.test") == 502);
    CHECK(dns.queries() > before);
  }
}

TEST_CASE("the DNS cache keeps at most dns_cache_size names, least recently used out first") {
  // "Connection: close": no pooled upstream connection answers in place of the cache.
  FakeUpstream upstream(
      FakeUpstream::serve(FakeUpstream::okResponse("cached", "Connection: close\r\n")));
  FakeDns dns(std::map<std::string, std::string>{
      {"a.test", "127.0.0.1"}, {"b.test", "127.0.0.1"}, {"c.test", "127.0.0.1"}});
  auto config = testConfig();
  config.dnsServers = dns.server();
  config.dnsCacheSize = 2; // and 1 name that does not resolve
  ProxyHarness proxy(config);
  const std::string port = ":" + std::to_string(upstream.port());
  // Whether asking for `host` made the proxy query DNS.
  auto queried = [&](const std::string& host, int status) {
    const size_t before = dns.queries();
    CHECK(statusFor(proxy, host) == status);
    return dns.queries() > before;
  };
  CHECK(queried("a.test" + port, 200));       // cache: a
  CHECK(queried("b.test" + port, 200));       // cache: b a
  CHECK_FALSE(queried("a.test" + port, 200)); // from the cache, now the most recent: a b
  CHECK(queried("c.test" + port, 200));       // full: b, the least recently used, goes: c a
  CHECK_FALSE(queried("a.test" + port, 200));
  CHECK_FALSE(queried("c.test" + port, 200));
  CHECK(queried("b.test" + port, 200)); // it was evicted, so DNS is asked again

  // Names that do not resolve have their own bound (a quarter, here 1): a flood of them
  // leaves the names that work in the cache.
  CHECK(queried("x.test", 502));
  CHECK(queried("y.test", 502)); // x makes room
  CHECK(queried("z.test", 502));
  CHECK_FALSE(queried("z.test", 502));
  CHECK(queried("x.test", 502));
  CHECK_FALSE(queried("b.test" + port, 200));
}
