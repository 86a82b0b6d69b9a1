// Verdicts from recorded exchanges, Proxy-Status parsing, lenient head parsing and the
// renderers, without sockets.

#include <catch2/catch.hpp>

#include "gatehouse/probe/probe.h"
#include "gatehouse/probe/response_reader.h"

using namespace gatehouse::probe;

namespace {

ResponseRecord response(const std::string& head) {
  ResponseRecord r;
  REQUIRE(parseHeadLenient(head, r));
  for (const auto& f : r.headers.fields()) {
    if (f.name == "Proxy-Authenticate") {
      parseChallenges(f.value, r.proxyChallenges);
    }
  }
  return r;
}

Exchange ex(const std::string& method, bool withCredentials, const std::string& head,
            bool newConnection = false) {
  Exchange e;
  e.method = method;
  e.withCredentials = withCredentials;
  e.newConnection = newConnection;
  e.scheme = withCredentials ? "Basic" : "";
  e.response = response(head);
  return e;
}

TargetReport target(std::vector<MethodRun> runs, const std::string& scheme = "http") {
  TargetReport t;
  t.url = scheme + "://127.0.0.1:1/";
  t.scheme = scheme;
  t.proxyDisplay = "http://127.0.0.1:3128";
  t.runs = std::move(runs);
  return t;
}

MethodRun run(const std::string& method, std::vector<Exchange> exchanges) {
  MethodRun r;
  r.method = method;
  r.steps.push_back(Step{"connect", true, "127.0.0.1:3128", 0});
  r.exchanges = std::move(exchanges);
  return r;
}

const std::string k407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                         "Proxy-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n";
const std::string k200 = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

bool hasFinding(const TargetReport& t, std::string_view text) {
  for (const auto& f : t.findings) {
    if (f.text.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("verdicts: accepted, required, wrong, no auth", "[probe]") {
  auto t = target({run("GET", {ex("GET", false, k407), ex("GET", true, k200)})});
  analyse(t, true);
  CHECK(t.verdict == "credentials_accepted");
  CHECK(t.exitCode == kExitOk);

  t = target({run("GET", {ex("GET", false, k407)})});
  analyse(t, false);
  CHECK(t.verdict == "credentials_required");
  CHECK(t.exitCode == kExitCredentialsNeeded);

  t = target({run("GET", {ex("GET", false, k407), ex("GET", true, k407)})});
  analyse(t, true);
  CHECK(t.verdict == "wrong_credentials");
  CHECK(t.exitCode == kExitWrongCredentials);

  t = target({run("GET", {ex("GET", false, k200)})});
  analyse(t, false);
  CHECK(t.verdict == "no_auth_required");
}

TEST_CASE("a second 407 in Chromium's words: reject, stale nonce, different realm", "[probe]") {
  auto t = target({run("GET", {ex("GET", false, k407), ex("GET", true, k407)})});
  analyse(t, true);
  CHECK(t.runs[0].summary.find("[Chromium: REJECT") != std::string::npos);
  t = target(
      {run("GET", {ex("GET", false, k407),
                   ex("GET", true,
                      "HTTP/1.1 407 x\r\nProxy-Authenticate: Basic realm=\"other\"\r\n\r\n")})});
  analyse(t, true);
  CHECK(t.runs[0].summary.find("realm changed from \"r\" to \"other\"") != std::string::npos);
  CHECK(t.runs[0].summary.find("DIFFERENT_REALM") != std::string::npos);
  const std::string digest = "HTTP/1.1 407 x\r\nProxy-Authenticate: Digest realm=\"r\", "
                             "nonce=\"n2\", stale=true\r\n\r\n";
  t = target({run("GET", {ex("GET", false, digest), ex("GET", true, digest)})});
  analyse(t, true);
  CHECK(t.runs[0].summary.find("STALE") != std::string::npos);
}

TEST_CASE("a 407 for CONNECT after credentials that GET accepted is a policy denial", "[probe]") {
  auto t = target({run("GET", {ex("GET", false, k407), ex("GET", true, k200)}),
                   run("CONNECT", {ex("CONNECT", false, k407), ex("CONNECT", true, k407)})});
  analyse(t, true);
  CHECK(t.verdict == "policy_denied");
  CHECK(t.runs[1].outcome == "policy_denied");
  bool differ = false;
  for (const auto& e : t.evidence) {
    differ = differ || e.find("the methods differ") != std::string::npos;
  }
  CHECK(differ);
}

TEST_CASE("a 407 with Proxy-Status http_request_denied is a policy denial", "[probe]") {
  auto t =
      target({run("GET", {ex("GET", false, k407),
                          ex("GET", true,
                             "HTTP/1.1 407 x\r\nProxy-Authenticate: Basic realm=\"r\"\r\n"
                             "Proxy-Status: corp-proxy; error=http_request_denied\r\n\r\n")})});
  analyse(t, true);
  CHECK(t.verdict == "policy_denied");
}

TEST_CASE("tinyproxy's 401 after wrong credentials, and a proxy that only says 401", "[probe]") {
  auto t = target({run("GET", {ex("GET", false, k407),
                               ex("GET", true, "HTTP/1.0 401 Unauthorized\r\n\r\n", true)})});
  analyse(t, true);
  CHECK(t.verdict == "wrong_credentials_401");
  CHECK(t.exitCode == kExitWrongCredentials);
  CHECK(hasFinding(t, "answered 401"));

  t = target({run("CONNECT", {ex("CONNECT", false,
                                 "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
                                 "realm=\"x\"\r\nContent-Length: 0\r\n\r\n")})},
             "https");
  analyse(t, false);
  CHECK(t.verdict == "proxy_sent_401");
  CHECK(t.exitCode == kExitAuthBroken);
}

TEST_CASE("protocol violations on a 407 are flagged", "[probe]") {
  auto t = target({run("GET", {ex("GET", false,
                                  "HTTP/1.1 407 x\r\nWWW-Authenticate: Basic realm=\"x\"\r\n"
                                  "Content-Length: 0\r\n\r\n")})});
  analyse(t, false);
  CHECK(t.verdict == "no_challenge");
  CHECK(hasFinding(t, "407 without Proxy-Authenticate"));
  CHECK(hasFinding(t, "WWW-Authenticate on a 407"));

  t = target({run("GET", {ex("GET", false,
                             "HTTP/1.1 407 x\r\nProxy-Authenticate: Basic realm=corp, "
                             "charset=latin1\r\nConnection: close\r\n\r\n")})});
  t.runs[0].exchanges[0].response->closeAfter = true;
  t.runs[0].exchanges[0].response->closeReason = "Connection: close";
  analyse(t, false);
  CHECK(hasFinding(t, "bare token"));
  CHECK(hasFinding(t, "charset=\"latin1\""));
  CHECK(hasFinding(t, "closes the connection after its 407"));
}

TEST_CASE("NTLM-only proxies: not tried, and fatal when they close after 407", "[probe]") {
  std::string ntlm = "HTTP/1.1 407 x\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: "
                     "Negotiate\r\nContent-Length: 0\r\n\r\n";
  auto t = target({run("GET", {ex("GET", false, ntlm)})});
  analyse(t, true);
  CHECK(t.verdict == "auth_unsupported");
  t = target({run("GET", {ex("GET", false, ntlm)})});
  t.runs[0].exchanges[0].response->closeAfter = true;
  analyse(t, true);
  CHECK(t.verdict == "closes_after_407");
}

TEST_CASE("throttling, upstream failures, plain HTTP on a TLS port, garbage", "[probe]") {
  auto t =
      target({run("GET", {ex("GET", false, k407),
                          ex("GET", true, "HTTP/1.1 429 Too Many\r\nRetry-After: 60\r\n\r\n")})});
  analyse(t, true);
  CHECK(t.verdict == "throttled");
  CHECK(t.exitCode == kExitThrottled);

  t = target({run("GET", {ex("GET", false,
                             "HTTP/1.1 502 Bad Gateway\r\nProxy-Status: gh; "
                             "error=connection_refused; details=\"ECONNREFUSED\"\r\n\r\n")})});
  analyse(t, false);
  CHECK(t.verdict == "upstream_failure");
  CHECK(t.evidence[0].find("the destination refused") != std::string::npos);

  t = target({run("GET", {ex("GET", false,
                             "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: "
                             "ERR_CONNECT_FAIL 111\r\nVia: 1.1 sq (squid/5.7)\r\n\r\n")})});
  analyse(t, false);
  CHECK(t.verdict == "upstream_failure");
  CHECK(t.evidence[0].find("Squid could not connect") != std::string::npos);
  bool via = false;
  for (const auto& a : t.answeredBy) {
    via = via || a.find("Via: 1.1 sq") == 0;
  }
  CHECK(via);

  t = target(
      {run("GET", {ex("GET", false, "HTTP/1.1 497 HTTP Request Sent to HTTPS Port\r\n\r\n")})});
  analyse(t, false);
  CHECK(t.verdict == "plain_http_on_tls_port");
  CHECK(t.exitCode == kExitProxyUnreachable);

  MethodRun garbage = run("GET", {});
  Exchange e;
  e.method = "GET";
  e.response = ResponseRecord{};
  e.response->notHttp = true;
  e.response->rawExcerpt = "\\x15\\x03\\x03\\x00\\x02";
  garbage.exchanges.push_back(e);
  t = target({garbage});
  analyse(t, false);
  CHECK(t.verdict == "tls_port_spoken_plain");

  MethodRun unreachable = run("GET", {});
  unreachable.steps = {Step{"connect", false, "127.0.0.1:1: Connection refused", 0}};
  t = target({unreachable});
  analyse(t, false);
  CHECK(t.verdict == "proxy_unreachable");
  CHECK(t.evidence[0].find("Connection refused") != std::string::npos);
}

TEST_CASE("Java is told about jdk.http.auth.tunneling.disabledSchemes for Basic tunnels",
          "[probe]") {
  auto t =
      target({run("CONNECT", {ex("CONNECT", false, k407), ex("CONNECT", true, k200)})}, "https");
  analyse(t, true);
  bool java = false;
  for (const auto& a : t.advice) {
    java = java || (a.client == "java" &&
                    a.fix.find("jdk.http.auth.tunneling.disabledSchemes") != std::string::npos);
  }
  CHECK(java);
}

TEST_CASE("Proxy-Status members and parameters", "[probe]") {
  auto members = parseProxyStatus(
      R"(edge; error=dns_error; rcode="NXDOMAIN", "inner proxy"; error=http_request_denied; details="port 25")");
  REQUIRE(members.size() == 2);
  CHECK(members[0].name == "edge");
  CHECK(members[0].param("error") == "dns_error");
  CHECK(members[0].param("rcode") == "NXDOMAIN");
  CHECK(members[1].name == "inner proxy");
  CHECK(members[1].param("details") == "port 25");
  CHECK(parseProxyStatus("").empty());
  CHECK(explainProxyStatusError("http_request_denied").find("policy") != std::string::npos);
  CHECK(explainSquidError("ERR_ACCESS_DENIED 0").find("http_access") != std::string::npos);
}

TEST_CASE("lenient head parsing: LF line ends, interim and non-HTTP", "[probe]") {
  ResponseRecord r;
  CHECK(parseHeadLenient("HTTP/1.0 407 Auth\nProxy-Authenticate: Basic\n\n", r));
  CHECK(r.status == 407);
  CHECK(r.version == "HTTP/1.0");
  CHECK(r.headers.get("proxy-authenticate") == std::optional<std::string_view>("Basic"));
  CHECK_FALSE(parseHeadLenient("SSH-2.0-OpenSSH\r\n\r\n", r));
  CHECK_FALSE(parseHeadLenient("HTTP/1.1 2x0 OK\r\n\r\n", r));
}

TEST_CASE("renderers: text names the verdict, JSON escapes and never holds the password",
          "[probe]") {
  Report report;
  report.credentialsSource = "--proxy-user";
  report.user = "alice";
  auto t = target({run("GET", {ex("GET", false, k407), ex("GET", true, k407)})});
  t.runs[0].exchanges[1].requestText =
      "GET / HTTP/1.1\r\nProxy-Authorization: Basic <alice:6-byte password, base64, masked>\r\n";
  analyse(t, true);
  report.targets.push_back(t);
  report.exitCode = t.exitCode;
  std::string text = renderText(report, false);
  CHECK(text.rfind("PROBLEM: Wrong credentials", 0) == 0);
  CHECK(text.find("\033[") == std::string::npos);
  CHECK(text.find("[Chromium: REJECT") != std::string::npos);
  CHECK(renderText(report, true).find("\033[") != std::string::npos);
  std::string json = renderJson(report);
  CHECK(json.find(R"("code":"wrong_credentials")") != std::string::npos);
  CHECK(json.find("\\r\\n") != std::string::npos);
  CHECK(json.find(R"("schema":"gatehouse-probe/1")") != std::string::npos);
}
