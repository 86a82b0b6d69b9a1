// The access line formats, checked field by field against their documented layouts.

#include <catch2/catch.hpp>
#include <regex>
#include <sstream>

#include "gatehouse/log/log.h"

using namespace gatehouse::log;

namespace {

AccessRecord sample() {
  AccessRecord r;
  r.requestId = "0.1.1";
  r.client = "127.0.0.1:40000";
  r.method = "GET";
  r.target = "http://a.test/x?y=1";
  r.status = 200;
  r.bytesIn = 80;
  r.bytesOut = 1234;
  r.durationMs = 17;
  r.upstream = "127.0.0.1:8080";
  r.termination = "--";
  r.wallMs = 1'700'000'000'123;
  return r;
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) {
    out.push_back(f);
  }
  return out;
}

} // namespace

TEST_CASE("squid: the ten fields of Squid's native access.log", "[log]") {
  // time elapsed remotehost code/status bytes method URL rfc931 peerstatus/peerhost type
  auto f = fields(formatAccess(sample(), AccessFormat::Squid));
  REQUIRE(f.size() == 10);
  CHECK(f[0] == "1700000000.123");
  CHECK(f[1] == "17");
  CHECK(f[2] == "127.0.0.1");
  CHECK(f[3] == "TCP_MISS/200");
  CHECK(f[4] == "1234");
  CHECK(f[5] == "GET");
  CHECK(f[6] == "http://a.test/x?y=1");
  CHECK(f[7] == "-");
  CHECK(f[8] == "HIER_DIRECT/127.0.0.1");
  CHECK(f[9] == "-");
  // Squid pads elapsed to six columns.
  CHECK(formatAccess(sample(), AccessFormat::Squid).find(".123     17 ") != std::string::npos);
}

TEST_CASE("squid: tunnels, refusals, failures and aborts get Squid's result codes", "[log]") {
  AccessRecord r = sample();
  r.method = "CONNECT";
  r.target = "a.test:443";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[3] == "TCP_TUNNEL/200");

  r = sample();
  r.status = 407;
  r.upstream = {};
  r.user = "mallory";
  r.termination = "PA";
  r.proxyStatus = "proxy_auth_required";
  auto f = fields(formatAccess(r, AccessFormat::Squid));
  CHECK(f[3] == "TCP_DENIED/407");
  CHECK(f[7] == "mallory");
  CHECK(f[8] == "HIER_NONE/-");

  r.status = 400;
  r.termination = "PR";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[3] == "NONE_NONE/400");

  r = sample();
  r.status = 502;
  r.upstream = {};
  r.termination = "SC";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[3] == "TCP_MISS/502");
  r.status = 599;
  r.termination = "sC";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[3] == "TCP_MISS_TIMEDOUT/599");
  r = sample();
  r.status = 499;
  r.termination = "CD";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[3] == "TCP_MISS_ABORTED/499");

  // A user name or target with a space cannot add a field.
  r = sample();
  r.user = "a b";
  r.target = "http://a.test/\x01";
  f = fields(formatAccess(r, AccessFormat::Squid));
  REQUIRE(f.size() == 10);
  CHECK(f[7] == "a%20b");
  CHECK(f[6] == "http://a.test/%01");
  // IPv6 clients are logged without brackets or port.
  r.client = "[::1]:5";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[2] == "::1");
  // Through a [[parent]]: Squid's FIRSTUP_PARENT, with the parent's address as the peer.
  r = sample();
  r.parent = "corp";
  CHECK(fields(formatAccess(r, AccessFormat::Squid))[8] == "FIRSTUP_PARENT/127.0.0.1");
}

TEST_CASE("common: NCSA combined, then Proxy-Status type, end code and id", "[log]") {
  AccessRecord r = sample();
  r.user = "alice";
  std::string line = formatAccess(r, AccessFormat::Common);
  std::regex combined(
      R"re(^(\S+) (\S+) (\S+) \[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"(.*)$)re");
  std::smatch m;
  REQUIRE(std::regex_match(line, m, combined));
  CHECK(m[1] == "127.0.0.1");
  CHECK(m[2] == "-");
  CHECK(m[3] == "alice");
  CHECK(m[4] == "14");
  CHECK(m[5] == "Nov");
  CHECK(m[6] == "2023");
  CHECK(m[10] == "+0000");
  CHECK(m[11] == "GET http://a.test/x?y=1");
  CHECK(m[12] == "200");
  CHECK(m[13] == "1234");
  CHECK(m[16] == " \"-\" -- 0.1.1");
  r.proxyStatus = "connection_refused";
  r.termination = "SC";
  r.status = 502;
  r.bytesOut = 0;
  line = formatAccess(r, AccessFormat::Common);
  REQUIRE(std::regex_match(line, m, combined));
  CHECK(m[13] == "-");
  CHECK(m[16] == " \"connection_refused\" SC 0.1.1");
}

TEST_CASE("json: one object per line, client text escaped", "[log]") {
  AccessRecord r = sample();
  r.target = "http://a.test/\"\n\xff";
  r.authReason = "wrong password";
  std::string line = formatAccess(r, AccessFormat::Json);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find(R"("target":"http://a.test/\"\u000a\u00ff")") != std::string::npos);
  CHECK(line.find(R"("auth_reason":"wrong password")") != std::string::npos);
  CHECK(line.find(R"("time":"2023-11-14T22:13:20.123Z")") != std::string::npos);
  CHECK(line.find(R"("user":null)") != std::string::npos);
  CHECK(line.find(R"("parent":null)") != std::string::npos);
  r.parent = "corp";
  CHECK(formatAccess(r, AccessFormat::Json).find(R"("parent":"corp")") != std::string::npos);
  CHECK(line.front() == '{');
  CHECK(line.back() == '}');
}

TEST_CASE("gatehouse: the key=value line names the auth refusal reason", "[log]") {
  AccessRecord r = sample();
  CHECK(formatAccess(r, AccessFormat::Gatehouse).find(" auth=") == std::string::npos);
  r.authReason = "unknown user";
  CHECK(formatAccess(r, AccessFormat::Gatehouse).find(" auth=\"unknown user\"") !=
        std::string::npos);
  CHECK(parseAccessFormat("squid") == AccessFormat::Squid);
  CHECK_FALSE(parseAccessFormat("apache").has_value());
}
