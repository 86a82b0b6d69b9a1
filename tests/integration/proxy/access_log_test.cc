// Access log formats as the binary writes them to a file (each parsed by its documented
// layout; JSON by Python's json module), and the per-client limit on diagnostic lines.

#include <catch2/catch.hpp>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/fake_upstream.h"
#include "../support/gatehouse_process.h"
#include "../support/proxy_harness.h"
#include "gatehouse/auth/basic_credentials.h"

using namespace gatehouse::test;
using gatehouse::auth::encodeBase64;

namespace {

struct TempDir {
  TempDir() {
    char dir[] = "/tmp/gatehouse-log-XXXXXX";
    path = ::mkdtemp(dir);
  }
  ~TempDir() { runCommand("rm -rf " + path); }
  std::string path;
};

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

// Sends the same four exchanges through a proxy writing `format` to a file; returns the lines:
// a GET answered 200, a CONNECT tunnel, a GET refused 407 (unknown user), a malformed request.
std::vector<std::string> linesFor(const std::string& format) {
  TempDir dir;
  int rc = -1;
  runCommand("htpasswd -b -c -5 " + dir.path + "/users alice secret 2>/dev/null", &rc);
  REQUIRE(rc == 0);
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("hello")));
  const std::string log = dir.path + "/access.log";
  GatehouseProcess proxy(
      {"--listen", "127.0.0.1:0", "--workers", "1", "--connect-ports", "*", "--auth-file",
       dir.path + "/users", "--access-log", log, "--access-log-format", format, "--dns-servers",
       "127.0.0.1:" + std::to_string(unusedPort()),
       // The upstream is on loopback; the SSRF guard (on with auth) has its own tests.
       "--ssrf-guard", "false"});
  const uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  const std::string alice = "Proxy-Authorization: Basic " + encodeBase64("alice:secret") + "\r\n";
  {
    Socket c = Socket::connectTo(port);
    c.sendAll("GET http://" + upstream.hostPort() + "/page?q=1 HTTP/1.1\r\nHost: x\r\n" + alice +
              "\r\n");
    REQUIRE(readResponse(c).status == 200);
  }
  {
    Socket c = Socket::connectTo(port);
    c.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\nHost: x\r\n" + alice + "\r\n");
    REQUIRE(readResponse(c, true).status == 200);
  }
  {
    Socket c = Socket::connectTo(port);
    c.sendAll("GET http://" + upstream.hostPort() + "/denied HTTP/1.1\r\nHost: x\r\n" +
              "Proxy-Authorization: Basic " + encodeBase64("mallory:x") + "\r\n\r\n");
    REQUIRE(readResponse(c).status == 407);
  }
  {
    Socket c = Socket::connectTo(port);
    c.sendAll("GET http://a.test/ HTTP/1.1\r\nBad Header\r\n\r\n");
    REQUIRE(readResponse(c).status == 400);
  }
  // Each line is written when its exchange ends (the tunnel's when the proxy sees it close).
  auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  std::vector<std::string> lines;
  while ((lines = readLines(log)).size() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  REQUIRE(lines.size() == 4);
  // Ordered by request for the checks (the tunnel may end after the later requests).
  std::vector<std::string> ordered(4);
  for (const std::string& l : lines) {
    size_t slot = l.find("/page") != std::string::npos     ? 0
                  : l.find("CONNECT") != std::string::npos ? 1
                  : l.find("/denied") != std::string::npos ? 2
                                                           : 3;
    ordered[slot] = l;
  }
  if (format == "json") {
    // Python's json module reads every line back.
    std::ofstream(dir.path + "/check.py")
        << "import json, sys\n"
           "for line in open(sys.argv[1]):\n"
           "    o = json.loads(line)\n"
           "    print(o['method'], o['status'], o['proxy_status'], o['end'], o['auth_reason'],\n"
           "          o['user'], o['upstream'] is not None, isinstance(o['duration_ms'], int))\n";
    std::string parsed = runCommand("/usr/bin/python3 " + dir.path + "/check.py " + log, &rc);
    REQUIRE(rc == 0);
    ordered.push_back(parsed);
  }
  return ordered;
}

} // namespace

TEST_CASE("access_log_format = squid: Squid's native fields and result codes") {
  auto lines = linesFor("squid");
  // time elapsed remotehost code/status bytes method URL rfc931 peerstatus/peerhost type
  std::regex squid(
      R"re(^(\d+\.\d{3}) +(\d+) (\S+) ([A-Z_]+)/(\d{3}) (\d+) (\S+) (\S+) (\S+) ([A-Z_]+)/(\S+) (\S+)$)re");
  std::smatch m;
  REQUIRE(std::regex_match(lines[0], m, squid));
  CHECK(m[3] == "127.0.0.1");
  CHECK(m[4] == "TCP_MISS");
  CHECK(m[5] == "200");
  CHECK(m[7] == "GET");
  CHECK(m[8].str().find("/page?q=1") != std::string::npos);
  CHECK(m[9] == "alice");
  CHECK(m[10] == "HIER_DIRECT");
  CHECK(m[11] == "127.0.0.1");
  CHECK(m[12] == "-");
  CHECK(std::abs(std::stod(m[1]) - static_cast<double>(std::time(nullptr))) < 60);
  REQUIRE(std::regex_match(lines[1], m, squid));
  CHECK(m[4] == "TCP_TUNNEL");
  CHECK(m[5] == "200");
  CHECK(m[7] == "CONNECT");
  REQUIRE(std::regex_match(lines[2], m, squid));
  CHECK(m[4] == "TCP_DENIED");
  CHECK(m[5] == "407");
  CHECK(m[9] == "mallory");
  CHECK(m[10] == "HIER_NONE");
  CHECK(m[11] == "-");
  REQUIRE(std::regex_match(lines[3], m, squid));
  CHECK(m[4] == "NONE_NONE");
  CHECK(m[5] == "400");
}

TEST_CASE("access_log_format = common: NCSA combined plus Proxy-Status type and end code") {
  auto lines = linesFor("common");
  std::regex combined(
      R"re(^(\S+) (\S+) (\S+) \[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "(\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" "([^"]*)" (\S+) (\S+)$)re");
  std::smatch m;
  REQUIRE(std::regex_match(lines[0], m, combined));
  CHECK(m[1] == "127.0.0.1");
  CHECK(m[3] == "alice");
  CHECK(m[5] == "GET");
  CHECK(m[7] == "200");
  CHECK(m[11] == "-");
  CHECK(m[12] == "--");
  REQUIRE(std::regex_match(lines[2], m, combined));
  CHECK(m[7] == "407");
  CHECK(m[12] == "PA");
  REQUIRE(std::regex_match(lines[3], m, combined));
  CHECK(m[7] == "400");
  CHECK(m[11] == "http_request_error");
  CHECK(m[12] == "PR");
}

TEST_CASE("access_log_format = json: every line is a JSON object Python reads") {
  auto lines = linesFor("json");
  std::istringstream parsed(lines[4]);
  std::vector<std::string> rows;
  for (std::string row; std::getline(parsed, row);) {
    rows.push_back(row);
  }
  REQUIRE(rows.size() == 4);
  CHECK(std::count(rows.begin(), rows.end(), "GET 200 None -- None alice True True") == 1);
  CHECK(std::count(rows.begin(), rows.end(), "CONNECT 200 None -- None alice True True") == 1);
  // A 407 has no RFC 9209 type: the error's log name stands in, as in the gatehouse format.
  CHECK(std::count(rows.begin(), rows.end(),
                   "GET 407 auth_required PA unknown user mallory False True") == 1);
  CHECK(std::count(rows.begin(), rows.end(),
                   "GET 400 http_request_error PR None None False True") == 1);
}

TEST_CASE("a client looping bad requests writes a bounded number of lines and a summary") {
  auto config = testConfig();
  config.refusedLogLines = 5;
  config.refusedLogWindowMs = 1000;
  ProxyHarness proxy(config);
  constexpr int kRequests = 300;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    Socket c = proxy.connect();
    c.sendAll("GET /loop HTTP/1.1\r\nHost: a\r\n\r\n"); // origin-form: refused 400
    REQUIRE(readResponse(c).status == 400);
  }
  auto elapsedMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count();
  // Every refusal is either a line or counted in a summary; wait until all are accounted for.
  auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  size_t written = 0;
  uint64_t suppressed = 0;
  size_t summaries = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    written = 0;
    suppressed = 0;
    summaries = 0;
    for (const std::string& line : LogCapture::instance().linesSince(proxy.logMark())) {
      if (line.find("not_a_proxy_request client=127.0.0.1:") != std::string::npos) {
        ++written;
      }
      size_t at = line.find("client 127.0.0.1: suppressed ");
      if (at != std::string::npos) {
        ++summaries;
        suppressed += std::stoull(line.substr(at + 29));
      }
    }
    if (written + suppressed == kRequests) {
      break;
    }
    std::this_thread::yield();
  }
  CHECK(written + suppressed == kRequests);
  CHECK(summaries >= 1);
  // At most 5 lines per started 1 s window (plus one window of slack for the flush timer).
  CHECK(written <= 5 * static_cast<size_t>(elapsedMs / 1000 + 2));
  CHECK(written < kRequests / 4);
  // The access log still has a line per request.
  CHECK(proxy.waitForLog({"access", "target=\"/loop\""}).size() > 0);
}
