// PROXY protocol v1 and v2 headers (HAProxy doc/proxy-protocol.txt): what is accepted, what
// needs more bytes, what refuses the connection.

#include <catch2/catch.hpp>

#include "gatehouse/proxy/proxy_protocol.h"

using gatehouse::proxy::buildProxyV1;
using gatehouse::proxy::buildProxyV2;
using gatehouse::proxy::parseProxyHeader;
using gatehouse::proxy::ProxyParse;
using Status = ProxyParse::Status;

namespace {

gatehouse::uv::SocketAddress address(const std::string& host, uint16_t port) {
  gatehouse::uv::SocketAddress a;
  REQUIRE(gatehouse::uv::SocketAddress::fromNumeric(host, port, a));
  return a;
}

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

} // namespace

TEST_CASE("PROXY v1: TCP4, TCP6 and UNKNOWN lines", "[proxy_protocol]") {
  auto r = parseProxyHeader("PROXY TCP4 192.0.2.7 127.0.0.1 56324 3128\r\nGET / HTTP/1.1\r\n");
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.version == 1);
  CHECK(r.header.length == 43);
  CHECK(r.header.source->toString() == "192.0.2.7:56324");
  CHECK(r.header.destination->toString() == "127.0.0.1:3128");

  r = parseProxyHeader("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.source->toString() == "[2001:db8::1]:65535");

  r = parseProxyHeader("PROXY UNKNOWN\r\n");
  REQUIRE(r.status == Status::Done);
  CHECK_FALSE(r.header.source);
  CHECK(r.header.length == 15);
  r = parseProxyHeader("PROXY UNKNOWN ffff::1 ::1 1 2 whatever follows\r\n");
  REQUIRE(r.status == Status::Done);
  CHECK_FALSE(r.header.source);
}

TEST_CASE("PROXY v1: prefixes need more, malformed lines are refused", "[proxy_protocol]") {
  const std::string full = "PROXY TCP4 192.0.2.7 127.0.0.1 56324 3128\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    INFO(n);
    CHECK(parseProxyHeader(full.substr(0, n)).status == Status::NeedMore);
  }
  for (const char* bad : {
           "GET http://x/ HTTP/1.1\r\n\r\n",         // no header at all
           "PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",     // unknown protocol
           "PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",       // a port missing
           "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n",   // an extra field
           "PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n",    // two spaces
           "PROXY TCP4 ::1 ::1 1 2\r\n",             // v6 after TCP4
           "PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",     // v4 after TCP6
           "PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", // port out of range
           "PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n",   // leading zero
           "PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n",    // sign
           "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n",       // bare LF
           "PROXY TCP4 999.2.3.4 1.2.3.4 1 2\r\n",   // not an address
       }) {
    INFO(bad);
    CHECK(parseProxyHeader(bad).status == Status::Invalid);
  }
  // A NUL inside a complete line (found by fuzz_proxy_header: inet_pton stopped at it).
  CHECK(parseProxyHeader(std::string("PROXY TCP6 2001:db8::1\0 ::1 1 2\r\n", 32)).status ==
        Status::Invalid);
  // 107 bytes at most, CRLF included.
  std::string longest = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  REQUIRE(longest.size() == 107);
  CHECK(parseProxyHeader(longest).status == Status::Done);
  std::string tooLong = "PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n";
  CHECK(parseProxyHeader(tooLong).status == Status::Invalid);
  CHECK(parseProxyHeader("PROXY UNKNOWN " + std::string(200, 'x')).status == Status::Invalid);
}

TEST_CASE("PROXY v2: PROXY over TCP4 and TCP6, LOCAL, TLVs", "[proxy_protocol]") {
  std::string v4 = buildProxyV2(address("192.0.2.7", 56324), address("127.0.0.1", 3128));
  auto r = parseProxyHeader(v4 + "GET");
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.version == 2);
  CHECK(r.header.length == 28);
  CHECK(r.header.source->toString() == "192.0.2.7:56324");
  CHECK(r.header.destination->toString() == "127.0.0.1:3128");

  std::string v6 = buildProxyV2(address("2001:db8::7", 443), address("::1", 3128));
  r = parseProxyHeader(v6);
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.length == 52);
  CHECK(r.header.source->toString() == "[2001:db8::7]:443");

  // TLVs (an ALPN and a NOOP) fill the rest exactly.
  std::string tlvs("\x01\x00\x02h2\x04\x00\x00", 8);
  r = parseProxyHeader(buildProxyV2(address("192.0.2.7", 1), address("127.0.0.1", 2), tlvs));
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.length == 16 + 12 + 8);

  // LOCAL (health checks): no address, whatever the block holds.
  std::string local = kSignature + std::string("\x20\x00\x00\x03xyz", 7);
  r = parseProxyHeader(local);
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.local);
  CHECK_FALSE(r.header.source);
  CHECK(r.header.length == 19);

  // PROXY with UNSPEC or a UNIX family: accepted without a TCP client address.
  r = parseProxyHeader(kSignature + std::string("\x21\x00\x00\x00", 4));
  REQUIRE(r.status == Status::Done);
  CHECK_FALSE(r.header.source);
}

TEST_CASE("PROXY v2: truncated headers need more, bad ones are refused", "[proxy_protocol]") {
  std::string tlvs("\x01\x00\x02h2", 5);
  std::string full = buildProxyV2(address("192.0.2.7", 1), address("127.0.0.1", 2), tlvs);
  for (size_t n = 1; n < full.size(); ++n) {
    INFO(n);
    CHECK(parseProxyHeader(full.substr(0, n)).status == Status::NeedMore);
  }
  CHECK(parseProxyHeader(full.substr(0, 16)).needAtLeast == full.size());

  auto with = [&](size_t at, char value) {
    std::string copy = full;
    copy[at] = value;
    return parseProxyHeader(copy).status;
  };
  CHECK(with(3, 'x') == Status::Invalid);              // signature
  CHECK(with(12, '\x11') == Status::Invalid);          // version 1 in a v2 header
  CHECK(with(12, '\x22') == Status::Invalid);          // command 2
  CHECK(with(13, '\x41') == Status::Invalid);          // family 4
  CHECK(with(13, '\x13') == Status::Invalid);          // transport 3
  CHECK(with(16 + 12 + 2, '\x03') == Status::Invalid); // TLV longer than the header
  // A TLV cut after its type byte.
  std::string cut =
      buildProxyV2(address("192.0.2.7", 1), address("127.0.0.1", 2), std::string("\x01\x00", 2));
  CHECK(parseProxyHeader(cut).status == Status::Invalid);
  // An address block longer than the length says.
  std::string shortBlock = kSignature + std::string("\x21\x11\x00\x04", 4) + "abcd";
  CHECK(parseProxyHeader(shortBlock).status == Status::Invalid);
  // Over the length cap.
  CHECK(parseProxyHeader(kSignature + std::string("\x21\x11\xff\xff", 4)).status ==
        Status::Invalid);
}

TEST_CASE("PROXY v1 built by buildProxyV1 parses back", "[proxy_protocol]") {
  std::string line = buildProxyV1(address("198.51.100.9", 40000), address("127.0.0.1", 3128));
  CHECK(line == "PROXY TCP4 198.51.100.9 127.0.0.1 40000 3128\r\n");
  auto r = parseProxyHeader(line);
  REQUIRE(r.status == Status::Done);
  CHECK(r.header.source->toString() == "198.51.100.9:40000");
}
