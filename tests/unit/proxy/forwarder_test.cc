#include <catch2/catch.hpp>

#include "gatehouse/proxy/error_response.h"
#include "gatehouse/proxy/forwarder.h"
#include "gatehouse/proxy/upstream.h"

#include <cerrno>

using namespace gatehouse;
using namespace gatehouse::proxy;

namespace {
http::RequestHead request(std::string method, std::string target,
                          std::initializer_list<std::pair<const char*, const char*>> fields,
                          int minor = 1) {
  http::RequestHead r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.versionMinor = minor;
  for (auto [n, v] : fields) {
    r.headers.add(n, v);
  }
  return r;
}
} // namespace

TEST_CASE("the upstream request head is origin-form with Host, Via and re-done framing") {
  auto req = request("POST", "http://Example.com:8080/p?q",
                     {{"Host", "evil"},
                      {"X-A", "1"},
                      {"Content-Length", "10"},
                      {"Proxy-Authorization", "Basic x"}});
  std::string error;
  auto uri = http::parseAbsoluteUri(req.target, error);
  UpstreamRequestPlan plan{&req, &*uri, http::BodyFraming::ContentLength, 10, "gh", false};
  CHECK(buildUpstreamRequestHead(plan) == "POST /p?q HTTP/1.1\r\nHost: example.com:8080\r\n"
                                          "X-A: 1\r\nVia: 1.1 gh\r\nContent-Length: 10\r\n\r\n");
}

TEST_CASE("Max-Forwards is decremented for OPTIONS and TRACE only") {
  std::string error;
  auto uri = http::parseAbsoluteUri("http://a/", error);
  auto options = request("OPTIONS", "http://a/", {{"Max-Forwards", "3"}});
  UpstreamRequestPlan plan{&options, &*uri, http::BodyFraming::None, 0, "gh", false};
  CHECK(buildUpstreamRequestHead(plan).find("Max-Forwards: 2\r\n") != std::string::npos);
  auto get = request("GET", "http://a/", {{"Max-Forwards", "3"}});
  plan.request = &get;
  CHECK(buildUpstreamRequestHead(plan).find("Max-Forwards: 3\r\n") != std::string::npos);
}

TEST_CASE("client response framing follows the client's version") {
  http::ResponseHead head;
  head.status = 200;
  head.reason = "OK";
  head.headers.add("Connection", "close");
  ClientResponseInput in;
  in.response = &head;
  in.pseudonym = "gh";
  in.framing = http::BodyFraming::UntilClose;
  ClientResponsePlan plan = buildClientResponseHead(in);
  CHECK(plan.chunked);
  CHECK_FALSE(plan.closeAfter);
  CHECK(plan.head == "HTTP/1.1 200 OK\r\nVia: 1.1 gh\r\nTransfer-Encoding: chunked\r\n\r\n");
  in.clientVersionMinor = 0;
  plan = buildClientResponseHead(in);
  CHECK_FALSE(plan.chunked);
  CHECK(plan.closeAfter);
  CHECK(plan.head.find("Connection: close\r\n") != std::string::npos);
  in.framing = http::BodyFraming::ContentLength;
  in.contentLength = 42;
  in.clientVersionMinor = 1;
  plan = buildClientResponseHead(in);
  CHECK(plan.head.find("Content-Length: 42\r\n") != std::string::npos);
}

TEST_CASE("error responses carry an RFC 9209 Proxy-Status and a short body") {
  ErrorResponse r;
  r.error = errors::ProxyError::ConnectRefused;
  r.pseudonym = "gh";
  r.detail = "connect ECONNREFUSED \"x\"";
  r.requestId = "0.1.1";
  r.upstream = "127.0.0.1:9";
  std::string text = renderErrorResponse(r);
  CHECK(text.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(text.find("Proxy-Status: gh; error=connection_refused; "
                  "details=\"connect ECONNREFUSED \\\"x\\\"\"; next-hop=\"127.0.0.1:9\"\r\n") !=
        std::string::npos);
  CHECK(text.find("request: 0.1.1") != std::string::npos);
  r.accept = "application/json";
  CHECK(renderErrorResponse(r).find("\"error\":\"connection_refused\"") != std::string::npos);
  r.accept = "text/html,*/*";
  CHECK(renderErrorResponse(r).find("<h1>502 Bad Gateway</h1>") != std::string::npos);
  r.pseudonym = "1host";
  CHECK(proxyStatusValue(r).rfind("\"1host\"; error=", 0) == 0);
  r.error = errors::ProxyError::DnsNotFound;
  r.rcode = "NXDOMAIN";
  CHECK(proxyStatusValue(r).find("error=dns_error; rcode=\"NXDOMAIN\"") != std::string::npos);
}

TEST_CASE("connect errors map to their rows (unreachable cannot be produced on loopback)") {
  using errors::ProxyError;
  CHECK(connectErrorFor(-ECONNREFUSED) == ProxyError::ConnectRefused);
  CHECK(connectErrorFor(-ETIMEDOUT) == ProxyError::ConnectTimeout);
  CHECK(connectErrorFor(-ENETUNREACH) == ProxyError::DestinationUnreachable);
  CHECK(connectErrorFor(-EHOSTUNREACH) == ProxyError::DestinationUnreachable);
  CHECK(connectErrorFor(-EACCES) == ProxyError::ConnectFailed);
  CHECK(errors::info(ProxyError::DestinationUnreachable).type == "destination_unavailable");
}
