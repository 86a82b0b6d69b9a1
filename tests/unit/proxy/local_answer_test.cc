// The answers a client connection writes itself (local_answer.h), without a connection: which
// refusals may keep the connection, what the error page and the record say, and how a cut
// response ends.

#include <catch2/catch.hpp>

#include "gatehouse/proxy/local_answer.h"

using namespace gatehouse::proxy;
using gatehouse::errors::Phase;
using gatehouse::errors::ProxyError;
using gatehouse::errors::StatusMode;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A record as the connection has it when a request was read and an upstream tried.
ExchangeRecord recordOfRequest() {
  ExchangeRecord record;
  record.id = "0.7.2";
  record.startMs = 1000;
  record.upstreamAddress = "192.0.2.10:80";
  return record;
}

AnswerContext contextAt(uint64_t nowMs) {
  AnswerContext context;
  context.pseudonym = "gatehouse";
  context.target = "example.test:80";
  context.nowMs = nowMs;
  return context;
}

} // namespace

TEST_CASE("local answer: only authentication refusals throw a body away to keep the connection",
          "[answer]") {
  CHECK(keepRuleFor(ProxyError::AuthRequired) == KeepRule::DiscardBody);
  CHECK(keepRuleFor(ProxyError::AuthThrottled) == KeepRule::DiscardBody);
  CHECK(keepRuleFor(ProxyError::AuthBackendUnavailable) == KeepRule::DiscardBody);
  for (ProxyError e :
       {ProxyError::RuleDenied, ProxyError::BadRequest, ProxyError::ConnectRefused,
        ProxyError::MethodNotAllowed, ProxyError::RequestTimeout, ProxyError::ClientCertRequired}) {
    CHECK(keepRuleFor(e) == KeepRule::BodylessOnly);
  }
}

TEST_CASE("local answer: an error page and the record agree", "[answer]") {
  ExchangeRecord record = recordOfRequest();
  std::string page = answerError(
      record, ErrorAnswer(ProxyError::ConnectRefused, Phase::Connect, "connect ECONNREFUSED"),
      contextAt(1250), false);
  CHECK(page.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(contains(page, "Proxy-Status: gatehouse; error=connection_refused; "
                       "details=\"connect ECONNREFUSED\"; next-hop=\"192.0.2.10:80\"\r\n"));
  CHECK(contains(page, "X-Request-Id: 0.7.2\r\n"));
  CHECK(contains(page, "target: example.test:80\n"));
  CHECK(contains(page, "after: 250 ms\n")); // from the record's start to now
  CHECK_FALSE(contains(page, "Connection: close"));
  CHECK(record.status == 502);
  CHECK(record.error == ProxyError::ConnectRefused);
  CHECK(record.phase == Phase::Connect);
  CHECK(record.cause == EndCause::Upstream);
  CHECK(record.detail == "connect ECONNREFUSED");
  CHECK(record.terminationCode() == "SC");
}

TEST_CASE("local answer: a closing answer says so", "[answer]") {
  ExchangeRecord record = recordOfRequest();
  std::string page = answerError(
      record, ErrorAnswer(ProxyError::BadRequest, Phase::ReadHead, "bad"), contextAt(1000), true);
  CHECK(page.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(contains(page, "Connection: close\r\n"));
  CHECK(record.terminationCode() == "PR");
}

TEST_CASE("local answer: the public detail is what the client sees, the log keeps the detail",
          "[answer]") {
  ExchangeRecord record = recordOfRequest();
  ErrorAnswer answer(ProxyError::RuleDenied, Phase::ReadHead, "rule 'intranet' denied 10.0.0.1");
  answer.publicDetail = "denied by policy";
  std::string page = answerError(record, answer, contextAt(1000), false);
  CHECK(contains(page, "denied by policy"));
  CHECK_FALSE(contains(page, "intranet"));
  CHECK(record.detail == "rule 'intranet' denied 10.0.0.1");
}

TEST_CASE("local answer: extra fields, a DNS rcode, the format the client accepts", "[answer]") {
  ExchangeRecord record = recordOfRequest();
  record.upstreamAddress.clear();
  gatehouse::http::HeaderList fields;
  fields.add("Retry-After", "5");
  AnswerContext context = contextAt(1000);
  context.accept = "application/json";
  ErrorAnswer answer(ProxyError::DnsNotFound, Phase::Dns, "no such name");
  answer.rcode = "NXDOMAIN";
  answer.fields = fields;
  std::string page = answerError(record, answer, context, false);
  CHECK(contains(page, "Retry-After: 5\r\n"));
  CHECK(contains(page, "; rcode=\"NXDOMAIN\""));
  CHECK_FALSE(contains(page, "next-hop")); // no address was tried
  CHECK(contains(page, "Content-Type: application/json\r\n"));
  CHECK(contains(page, "\"request_id\":\"0.7.2\""));
}

TEST_CASE("local answer: a 405 names the allowed methods once", "[answer]") {
  ExchangeRecord record = recordOfRequest();
  const ErrorAnswer trace(ProxyError::MethodNotAllowed, Phase::ReadHead, "TRACE");
  std::string page = answerError(record, trace, contextAt(1000), false);
  CHECK(page.rfind("HTTP/1.1 405 ", 0) == 0);
  CHECK(contains(page, "\r\nAllow: "));

  gatehouse::http::HeaderList own;
  own.add("Allow", "GET");
  ExchangeRecord second = recordOfRequest();
  ErrorAnswer withAllow = trace;
  withAllow.fields = own;
  page = answerError(second, withAllow, contextAt(1000), false);
  CHECK(contains(page, "\r\nAllow: GET\r\n"));
  CHECK(page.find("\r\nAllow: ") == page.rfind("\r\nAllow: "));
}

TEST_CASE("local answer: a parent's Proxy-Status members stay in front of ours", "[answer]") {
  ExchangeRecord record = recordOfRequest();
  record.upstreamProxyStatus = "squid; error=dns_error";
  std::string page =
      answerError(record, ErrorAnswer(ProxyError::UpstreamClosed, Phase::WaitHead, "closed"),
                  contextAt(1000), false);
  CHECK(contains(page, "Proxy-Status: squid; error=dns_error, gatehouse; error="));
}

TEST_CASE("local answer: 598 becomes 504 in RFC status mode", "[answer]") {
  ExchangeRecord record = recordOfRequest();
  AnswerContext context = contextAt(1000);
  context.statusMode = StatusMode::Rfc;
  std::string page = answerError(
      record, ErrorAnswer(ProxyError::UpstreamReadTimeout, Phase::Send, "no 100 Continue"), context,
      true);
  CHECK(page.rfind("HTTP/1.1 504 ", 0) == 0);
  CHECK(record.status == 504);
  CHECK(record.terminationCode() == "sB");
}

TEST_CASE("local answer: how a cut exchange ends", "[answer]") {
  struct Row {
    ProxyError error;
    bool started;
    bool framed;
    CutEnding ending;
  };
  const Row rows[] = {
      // The upstream cut a framed response: a FIN, the client sees the missing bytes.
      {ProxyError::UpstreamBodyAborted, true, true, CutEnding::Fin},
      // A close-delimited body: only a reset shows it is incomplete.
      {ProxyError::UpstreamBodyAborted, true, false, CutEnding::Reset},
      // Nothing went out yet (a tunnel opening, say): nothing to keep.
      {ProxyError::UpstreamReadTimeout, false, false, CutEnding::Reset},
      // The client left: a reset, whatever the framing.
      {ProxyError::ClientClosed, true, true, CutEnding::Reset},
      {ProxyError::ClientClosed, false, false, CutEnding::Reset},
  };
  for (const Row& row : rows) {
    ExchangeRecord record = recordOfRequest();
    record.status = 200;
    CutEnding ending =
        cutExchange(record, row.error, Phase::ReadBody, "cut", row.started, row.framed);
    CAPTURE(static_cast<int>(row.error), row.started, row.framed);
    CHECK(ending == row.ending);
    CHECK(record.error == row.error);
    CHECK(record.detail == "cut");
    if (row.error == ProxyError::ClientClosed) {
      CHECK(record.status == 499); // what the access line shows for a client that left
      CHECK_FALSE(record.aborted);
    } else {
      CHECK(record.status == 200); // the status the client already has
      CHECK(record.aborted);
    }
  }
}

TEST_CASE("local answer: a client write that failed at once is a client that left", "[answer]") {
  ExchangeRecord fresh = recordOfRequest();
  fresh.phase = Phase::ReadBody;
  recordClientWriteFailure(fresh, -32); // UV_EPIPE
  CHECK(fresh.status == 499);
  CHECK(fresh.error == ProxyError::ClientClosed);
  CHECK(fresh.cause == EndCause::ClientAbort);
  CHECK(fresh.detail == "write to client: EPIPE");
  CHECK(fresh.terminationCode() == "CD");

  ExchangeRecord answered = recordOfRequest();
  answered.status = 200; // the head went out before the body write failed
  recordClientWriteFailure(answered, -32);
  CHECK(answered.status == 200);
  CHECK(answered.error == ProxyError::ClientClosed);
}

TEST_CASE("local answer: a refused request head's error follows the parser's status", "[answer]") {
  CHECK(errorForParseStatus(431) == ProxyError::RequestHeadTooLarge);
  CHECK(errorForParseStatus(414) == ProxyError::RequestTargetTooLong);
  CHECK(errorForParseStatus(501) == ProxyError::UnsupportedTransferCoding);
  CHECK(errorForParseStatus(505) == ProxyError::UnsupportedVersion);
  CHECK(errorForParseStatus(400) == ProxyError::BadRequest);
  CHECK(errorForParseStatus(0) == ProxyError::BadRequest);
}

TEST_CASE("local answer: the context names the request's target, or none before a head",
          "[answer]") {
  gatehouse::http::Authority authority;
  AnswerContext none = answerContextFor(StatusMode::Rfc, "gh", authority, "", 77);
  CHECK(none.target.empty());
  CHECK(none.statusMode == StatusMode::Rfc);
  CHECK(none.pseudonym == "gh");
  CHECK(none.nowMs == 77);

  authority.host = "example.test";
  authority.port = 8080;
  AnswerContext named =
      answerContextFor(StatusMode::Proxy, "gatehouse", authority, "application/json", 90);
  CHECK(named.target == "example.test:8080");
  CHECK(named.accept == "application/json");

  authority.host = "2001:db8::1";
  authority.ipv6 = true;
  authority.port = 443;
  CHECK(answerContextFor(StatusMode::Proxy, "gatehouse", authority, "", 0).target ==
        "[2001:db8::1]:443");
}
