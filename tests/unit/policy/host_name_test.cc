// Host normalisation as browsers and curl do it (WHATWG URL host parsing): every odd IPv4
// spelling becomes the dotted quad a connect would reach, or is refused.

#include <catch2/catch.hpp>

#include "gatehouse/policy/host_name.h"

using namespace gatehouse::policy;

namespace {
std::string normalised(const char* host) {
  std::string error;
  auto h = normaliseHost(host, error);
  return h ? h->text : "refused: " + error;
}
bool refused(const char* host) {
  return normalised(host).starts_with("refused");
}
} // namespace

TEST_CASE("odd IPv4 spellings become the dotted quad", "[policy][host]") {
  CHECK(normalised("127.0.0.1") == "127.0.0.1");
  CHECK(normalised("0x7f.1") == "127.0.0.1");
  CHECK(normalised("0x7F.0.0.1") == "127.0.0.1");
  CHECK(normalised("2130706433") == "127.0.0.1");
  CHECK(normalised("0x7f000001") == "127.0.0.1");
  CHECK(normalised("017700000001") == "127.0.0.1");
  CHECK(normalised("0177.0.0.1") == "127.0.0.1");
  CHECK(normalised("0177.1") == "127.0.0.1");
  CHECK(normalised("127.1") == "127.0.0.1");
  CHECK(normalised("127.0.1") == "127.0.0.1");
  CHECK(normalised("127.0.0.1.") == "127.0.0.1");
  CHECK(normalised("169.254.43518") == "169.254.169.254");
  CHECK(normalised("0xa9fea9fe") == "169.254.169.254");
  CHECK(normalised("10.0x10.0300.0") == "10.16.192.0");
  CHECK(normalised("0") == "0.0.0.0");
  CHECK(normalised("0x") == "0.0.0.0");
  CHECK(normalised("4294967295") == "255.255.255.255");
  CHECK(normalised("0000000000000127.0.0.1") == "87.0.0.1"); // leading 0: octal, as browsers
}

TEST_CASE("invalid numeric hosts are refused, as browsers refuse them", "[policy][host]") {
  CHECK(refused("4294967296"));
  CHECK(refused("256.0.0.1"));
  CHECK(refused("1.2.3.256"));
  CHECK(refused("1.2.65536"));
  CHECK(refused("1.2.3.4.5"));
  CHECK(refused("08.0.0.1")); // 8 is not an octal digit
  CHECK(refused("0x1g.0.0.1"));
  CHECK(refused("example.123"));
  CHECK(refused("example.0x1"));
  CHECK(refused("1..2.3"));
  CHECK(refused(""));
  CHECK(refused("99999999999999999999"));
}

TEST_CASE("IPv6 literals are canonicalised, names lower-cased", "[policy][host]") {
  CHECK(normalised("[::1]") == "::1");
  CHECK(normalised("::1") == "::1");
  CHECK(normalised("[0:0:0:0:0:0:0:1]") == "::1");
  CHECK(normalised("[2001:DB8::0:1]") == "2001:db8::1");
  CHECK(normalised("[::ffff:127.0.0.1]") == "::ffff:127.0.0.1");
  CHECK(refused("[::1"));
  CHECK(refused("[fe80::1%25eth0]"));
  CHECK(refused("[1.2.3.4]"));
  CHECK(refused("[::g]"));

  CHECK(normalised("Example.COM") == "example.com");
  CHECK(normalised("example.com.") == "example.com");
  CHECK(normalised("localhost") == "localhost");
  CHECK(normalised("1.2.3.example") == "1.2.3.example");
  CHECK(normalised("under_score.example") == "under_score.example");
  CHECK(refused("a..example"));
  CHECK(refused("exa mple.com"));
  CHECK(refused("ex%41mple.com"));
  CHECK(refused("b\xc3\xbccher.example"));
  CHECK(refused(std::string(64, 'a').append(".example").c_str()));
  CHECK(refused("."));
}

TEST_CASE("the lenient IPv4 parser alone", "[policy][host]") {
  CHECK(parseLenientIpv4("0x7f.1")->toString() == "127.0.0.1");
  CHECK_FALSE(parseLenientIpv4("example"));
  CHECK_FALSE(parseLenientIpv4(""));
}
