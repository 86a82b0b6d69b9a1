// The SSRF guard's classification table (modelled on Smokescreen's TestClassifyAddr): every
// special-purpose range, the IPv6 forms that carry an IPv4 address, and the guard decision
// around them (own listeners, allowed ranges, guard off).

#include <catch2/catch.hpp>

#include "gatehouse/policy/address_class.h"

using namespace gatehouse::policy;

namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

struct Row {
  const char* address;
  const char* expected; // AddressClass::describe()
};

} // namespace

TEST_CASE("addresses are classified by the special-purpose registries", "[policy][ssrf]") {
  const Row rows[] = {
      // Global unicast, both families.
      {"8.8.8.8", "global"},
      {"1.1.1.1", "global"},
      {"93.184.216.34", "global"},
      {"100.63.255.255", "global"}, // just below CGNAT
      {"100.128.0.0", "global"},    // just above CGNAT
      {"172.15.255.255", "global"}, // just below 172.16/12
      {"172.32.0.0", "global"},     // just above
      {"2606:4700:4700::1111", "global"},
      {"2a00:1450:4001:80b::200e", "global"},
      // Loopback and unspecified.
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"::1", "loopback"},
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"::", "unspecified"},
      // Link-local, including the cloud metadata service.
      {"169.254.169.254", "link_local"},
      {"169.254.0.1", "link_local"},
      {"fe80::1", "link_local"},
      {"febf:ffff::1", "link_local"},
      {"fd00:ec2::254", "link_local"},
      // RFC 1918 and CGNAT.
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.168.1.1", "private"},
      {"100.64.0.1", "cgnat"},
      {"100.127.255.255", "cgnat"},
      // Unique local.
      {"fc00::1", "unique_local"},
      {"fd12:3456:789a::1", "unique_local"},
      {"fd00:ec2::253", "unique_local"},
      // Multicast and broadcast.
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"ff02::1", "multicast"},
      {"ff05::1:3", "multicast"},
      {"255.255.255.255", "broadcast"},
      // Documentation.
      {"192.0.2.10", "documentation"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.99", "documentation"},
      {"2001:db8::1", "documentation"},
      {"3fff::1", "documentation"},
      // Reserved.
      {"240.0.0.1", "reserved"},
      {"255.255.255.254", "reserved"},
      {"192.0.0.8", "reserved"},
      {"198.18.0.1", "reserved"},
      {"198.19.255.255", "reserved"},
      {"192.88.99.1", "reserved"},
      {"100::1", "reserved"},
      {"2001:2::1", "reserved"},
      {"2001:10::1", "reserved"},
      {"fec0::1", "reserved"},
      {"4000::1", "reserved"}, // outside 2000::/3: unassigned
      // IPv6 forms embedding IPv4 are judged by the IPv4 address inside.
      {"::ffff:127.0.0.1", "loopback via ipv4-mapped"},
      {"::ffff:10.0.0.9", "private via ipv4-mapped"},
      {"::ffff:169.254.169.254", "link_local via ipv4-mapped"},
      {"::ffff:8.8.8.8", "global via ipv4-mapped"},
      {"64:ff9b::7f00:1", "loopback via nat64"},
      {"64:ff9b::a00:1", "private via nat64"},
      {"64:ff9b::808:808", "global via nat64"},
      {"2002:7f00:1::", "loopback via 6to4"},
      {"2002:a9fe:a9fe::1", "link_local via 6to4"},
      {"2002:5db8:d822::", "global via 6to4"},
      // Tunnels and deprecated forms refused outright.
      {"2001::4240", "ipv6_embedded_ipv4"}, // Teredo
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "ipv6_embedded_ipv4"},
      {"64:ff9b:1::a00:1", "ipv6_embedded_ipv4"}, // NAT64 local use
      {"::7f00:1", "ipv6_embedded_ipv4"},         // IPv4-compatible ::127.0.0.1
  };
  STATIC_REQUIRE(sizeof rows / sizeof rows[0] >= 40);
  for (const Row& row : rows) {
    INFO(row.address);
    CHECK(classifyAddress(ip(row.address)).describe() == row.expected);
  }
}

TEST_CASE("the guard refuses non-global destinations unless a rule's cidrs allow them",
          "[policy][ssrf]") {
  std::vector<ListenerAddress> none;
  std::vector<Cidr> noRanges;
  CHECK(checkDestination(ip("8.8.8.8"), 443, true, none, noRanges).allowed);
  auto refused = checkDestination(ip("169.254.169.254"), 80, true, none, noRanges);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.reason == "link_local");
  CHECK_FALSE(checkDestination(ip("::ffff:10.1.2.3"), 80, true, none, noRanges).allowed);

  std::string error;
  std::vector<Cidr> ranges = {*Cidr::parse("10.40.0.0/16", error)};
  CHECK(checkDestination(ip("10.40.1.2"), 443, true, none, ranges).allowed);
  CHECK(checkDestination(ip("::ffff:10.40.1.2"), 443, true, none, ranges).allowed);
  CHECK_FALSE(checkDestination(ip("10.41.1.2"), 443, true, none, ranges).allowed);

  // Guard off (the developer's loopback proxy): loopback destinations are fine.
  CHECK(checkDestination(ip("127.0.0.1"), 8080, false, none, noRanges).allowed);
}

TEST_CASE("the proxy's own listeners are refused even with the guard off", "[policy][ssrf]") {
  std::vector<ListenerAddress> own = {{ip("127.0.0.1"), 3128}};
  std::vector<Cidr> everything = {Cidr{ip("0.0.0.0"), 0}};
  auto loop = checkDestination(ip("127.0.0.1"), 3128, false, own, everything);
  CHECK_FALSE(loop.allowed);
  CHECK(loop.reason == "own listener");
  CHECK_FALSE(checkDestination(ip("::ffff:127.0.0.1"), 3128, false, own, everything).allowed);
  CHECK_FALSE(checkDestination(ip("0.0.0.0"), 3128, false, own, everything).allowed);
  CHECK(checkDestination(ip("127.0.0.1"), 3129, false, own, everything).allowed);

  // A wildcard listener answers on loopback too.
  std::vector<ListenerAddress> wildcard = {{ip("0.0.0.0"), 3128}};
  CHECK_FALSE(checkDestination(ip("127.0.0.5"), 3128, false, wildcard, everything).allowed);
  CHECK_FALSE(checkDestination(ip("::1"), 3128, false, wildcard, everything).allowed);
  CHECK(checkDestination(ip("8.8.8.8"), 3128, false, wildcard, everything).allowed);
  // An interface address the caller added for the wildcard listener.
  wildcard.push_back({ip("203.0.113.5"), 3128});
  CHECK_FALSE(checkDestination(ip("203.0.113.5"), 3128, false, wildcard, everything).allowed);
}

TEST_CASE("CIDRs parse strictly and match across the mapped form", "[policy]") {
  std::string error;
  auto ten = Cidr::parse("10.0.0.0/8", error);
  REQUIRE(ten);
  CHECK(ten->contains(ip("10.200.1.1")));
  CHECK(ten->contains(ip("::ffff:10.200.1.1")));
  CHECK_FALSE(ten->contains(ip("11.0.0.1")));
  CHECK_FALSE(ten->contains(ip("::a00:1")));
  auto single = Cidr::parse("192.168.1.7", error);
  REQUIRE(single);
  CHECK(single->prefix == 32);
  auto v6 = Cidr::parse("fd00::/8", error);
  REQUIRE(v6);
  CHECK(v6->contains(ip("fd12::1")));
  CHECK_FALSE(v6->contains(ip("10.0.0.1")));
  CHECK(Cidr::parse("fc00::/7", error)->toString() == "fc00::/7");
  CHECK_FALSE(Cidr::parse("10.0.0.1/8", error));
  CHECK(error.find("host bits") != std::string::npos);
  CHECK_FALSE(Cidr::parse("10.0.0.0/33", error));
  CHECK_FALSE(Cidr::parse("10.0.0.0/", error));
  CHECK_FALSE(Cidr::parse("10.0.0/8", error));
  CHECK_FALSE(Cidr::parse("example.com/8", error));
  CHECK_FALSE(Cidr::parse("::/129", error));
  CHECK(Cidr::parse("0.0.0.0/0", error)->matchesEverything());
}

TEST_CASE("IpAddress converts from bytes and prints canonically", "[policy]") {
  const uint8_t v4[4] = {10, 1, 2, 3};
  CHECK(IpAddress::fromBytes(v4, 4)->toString() == "10.1.2.3");
  CHECK_FALSE(IpAddress::fromBytes(v4, 3));
  CHECK(ip("2001:DB8:0:0:0:0:0:1").toString() == "2001:db8::1");
  CHECK(ip("::ffff:1.2.3.4").unmapped().toString() == "1.2.3.4");
  CHECK_FALSE(IpAddress::parse("1.2.3"));
  CHECK_FALSE(IpAddress::parse("01.2.3.4"));
  CHECK_FALSE(IpAddress::parse("1.2.3.4 "));
  CHECK_FALSE(IpAddress::parse(""));
}
