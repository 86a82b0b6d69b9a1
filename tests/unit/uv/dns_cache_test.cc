// The resolver's cache on its own (src/uv/dns_cache.cc): TTL clamping, negative answers
// (RFC 2308), and the bound on names with least-recently-used eviction. Time is passed in.

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "gatehouse/uv/dns_cache.h"

using gatehouse::uv::DnsCache;
using gatehouse::uv::SocketAddress;

namespace {

std::vector<SocketAddress> address(const std::string& ip) {
  SocketAddress a;
  REQUIRE(SocketAddress::fromNumeric(ip, 0, a));
  return {a};
}

DnsCache::Options small(size_t entries) {
  DnsCache::Options options;
  options.maxEntries = entries;
  return options;
}

} // namespace

TEST_CASE("a positive answer is kept for its TTL, clamped to the cache's bounds") {
  DnsCache cache(DnsCache::Options{}); // 1 s .. 30 s
  cache.storeAddresses("ten.test", address("127.0.0.1"), 10, 1'000);
  const DnsCache::Answer* hit = cache.find("ten.test", 10'999);
  REQUIRE(hit != nullptr);
  CHECK_FALSE(hit->negative());
  CHECK(hit->addresses.front().toString() == "127.0.0.1:0");
  CHECK(cache.find("ten.test", 11'000) == nullptr); // expired, and dropped
  CHECK(cache.size() == 0);

  cache.storeAddresses("zero.test", address("127.0.0.2"), 0, 0); // TTL 0: kept the minimum
  CHECK(cache.find("zero.test", 999) != nullptr);
  CHECK(cache.find("zero.test", 1'000) == nullptr);

  cache.storeAddresses("long.test", address("127.0.0.3"), UINT32_MAX, 0); // a day: 30 s
  CHECK(cache.find("long.test", 29'999) != nullptr);
  CHECK(cache.find("long.test", 30'000) == nullptr);

  cache.storeAddresses("none.test", {}, 60, 0); // no address is no positive answer
  CHECK(cache.find("none.test", 0) == nullptr);
}

TEST_CASE("a negative answer is kept briefly: the default, or the SOA minimum clamped") {
  DnsCache::Options options;
  options.negativeTtlMs = 5'000;
  options.maxNegativeTtlMs = 30'000;
  DnsCache cache(options);
  cache.storeNegative("nx.test", "ARES_ENOTFOUND", std::nullopt, 0);
  const DnsCache::Answer* hit = cache.find("nx.test", 4'999);
  REQUIRE(hit != nullptr);
  CHECK(hit->negative());
  CHECK(hit->errorName == "ARES_ENOTFOUND");
  CHECK(cache.find("nx.test", 5'000) == nullptr);

  cache.storeNegative("soa.test", "ARES_ENODATA", 2, 0); // SOA minimum 2 s
  CHECK(cache.find("soa.test", 1'999) != nullptr);
  CHECK(cache.find("soa.test", 2'000) == nullptr);
  cache.storeNegative("huge.test", "ARES_ENOTFOUND", 86'400, 0); // clamped to 30 s
  CHECK(cache.find("huge.test", 29'999) != nullptr);
  CHECK(cache.find("huge.test", 30'000) == nullptr);
  cache.storeNegative("none.test", "ARES_ENOTFOUND", 0, 0); // the zone asks for no caching
  CHECK(cache.find("none.test", 0) == nullptr);

  // A later positive answer replaces the negative one (and the other way round).
  cache.storeNegative("flip.test", "ARES_ENOTFOUND", std::nullopt, 0);
  cache.storeAddresses("flip.test", address("127.0.0.4"), 10, 1);
  REQUIRE(cache.find("flip.test", 2) != nullptr);
  CHECK_FALSE(cache.find("flip.test", 2)->negative());
  CHECK(cache.size() == 1); // every other name expired and was dropped when looked up
}

TEST_CASE("negative caching can be turned off") {
  DnsCache::Options options;
  options.negativeTtlMs = 0;
  DnsCache cache(options);
  cache.storeNegative("nx.test", "ARES_ENOTFOUND", std::nullopt, 0);
  cache.storeNegative("soa.test", "ARES_ENOTFOUND", 60, 0);
  CHECK(cache.size() == 0);
}

TEST_CASE("the cache holds at most maxEntries names, dropping the least recently used") {
  DnsCache cache(small(3));
  cache.storeAddresses("a.test", address("127.0.0.1"), 30, 0);
  cache.storeAddresses("b.test", address("127.0.0.2"), 30, 0);
  cache.storeAddresses("c.test", address("127.0.0.3"), 30, 0);
  REQUIRE(cache.find("a.test", 1) != nullptr); // a is now the most recently used
  cache.storeAddresses("d.test", address("127.0.0.4"), 30, 2);
  CHECK(cache.size() == 3);
  CHECK(cache.find("b.test", 3) == nullptr); // the least recently used went
  CHECK(cache.find("a.test", 3) != nullptr);
  CHECK(cache.find("c.test", 3) != nullptr);
  CHECK(cache.find("d.test", 3) != nullptr);
  // Storing a name already there refreshes it without evicting anything.
  cache.storeAddresses("c.test", address("127.0.0.9"), 30, 4);
  CHECK(cache.size() == 3);
  CHECK(cache.find("c.test", 5)->addresses.front().toString() == "127.0.0.9:0");
}

TEST_CASE("negative answers have a bound of their own: a flood of them leaves the rest alone") {
  DnsCache::Options options = small(3);
  options.maxNegativeEntries = 2;
  DnsCache cache(options);
  cache.storeAddresses("works.test", address("127.0.0.1"), 30, 0);
  // Many distinct names that do not exist (random.example.test style).
  size_t largest = 0;
  for (int i = 0; i < 10'000; ++i) {
    cache.storeNegative("r" + std::to_string(i) + ".example.test", "ARES_ENOTFOUND", std::nullopt,
                        10);
    largest = std::max(largest, cache.size());
  }
  CHECK(largest == 3); // works.test and two negative names
  CHECK(cache.find("works.test", 11) != nullptr);
  CHECK(cache.find("r9999.example.test", 11) != nullptr);
  CHECK(cache.find("r9998.example.test", 11) != nullptr);
  CHECK(cache.find("r9997.example.test", 11) == nullptr);

  // A name moving from one kind to the other leaves its old entry behind.
  cache.storeAddresses("r9999.example.test", address("127.0.0.5"), 30, 12);
  CHECK(cache.size() == 3);
  CHECK_FALSE(cache.find("r9999.example.test", 13)->negative());
  cache.storeNegative("works.test", "ARES_ENODATA", std::nullopt, 14);
  CHECK(cache.find("works.test", 15)->negative());
  CHECK(cache.size() == 3);
}

TEST_CASE("an expired name at the cold end makes room before any live one goes") {
  DnsCache cache(small(2));
  cache.storeAddresses("old.test", address("127.0.0.1"), 1, 0);   // until 1 000
  cache.storeAddresses("live.test", address("127.0.0.2"), 30, 0); // until 30 000
  cache.storeAddresses("new.test", address("127.0.0.3"), 30, 2'000);
  CHECK(cache.size() == 2);
  CHECK(cache.find("live.test", 2'001) != nullptr);
  CHECK(cache.find("new.test", 2'001) != nullptr);
}

TEST_CASE("a cache of size 0 keeps nothing") {
  DnsCache::Options options = small(0);
  options.maxNegativeEntries = 0;
  DnsCache cache(options);
  cache.storeAddresses("a.test", address("127.0.0.1"), 30, 0);
  cache.storeNegative("b.test", "ARES_ENOTFOUND", std::nullopt, 0);
  CHECK(cache.size() == 0);
  CHECK(cache.find("a.test", 0) == nullptr);
}
