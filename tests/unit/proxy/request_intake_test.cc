// Taking in a request head (request_intake.h) without a connection: a parser fed a head gives
// the flow, the record's first fields and who asks, as the connection would take them.

#include <catch2/catch.hpp>

#include "gatehouse/http/parser.h"
#include "gatehouse/proxy/request_intake.h"

using namespace gatehouse;
using namespace gatehouse::proxy;
using errors::Phase;
using errors::ProxyError;

namespace {

// A request parser that has just completed `head` (with `rest` after it in the same read).
struct ParsedHead {
  http::MessageParser parser{http::MessageParser::Type::Request, http::ParserLimits{}, nullptr};
  policy::RequestFacts facts;

  explicit ParsedHead(std::string_view head) {
    size_t used = 0;
    REQUIRE(parser.execute(head, used) == http::ParseStatus::HeadComplete);
  }
};

} // namespace

TEST_CASE("intake: the client's host is its address without the port", "[intake]") {
  CHECK(addressHost("192.0.2.1:51000") == "192.0.2.1");
  CHECK(addressHost("[2001:db8::1]:443") == "2001:db8::1");
  CHECK(addressHost("[::1]:80") == "::1");
  CHECK(addressHost("localhost") == "localhost"); // no port: as it is
  CHECK(addressHost("") == "");
  std::string address = "10.0.0.7:3128";
  CHECK(addressHost(address).data() == address.data()); // a view, no copy
}

TEST_CASE("intake: a record begins with the id, the start, and the target without userinfo",
          "[intake]") {
  ParsedHead parsed("GET http://user:secret@example.test/a HTTP/1.1\r\nHost: example.test\r\n\r\n");
  ExchangeRecord record;
  beginRecord(record, "0.3.1", 1200, &parsed.parser.request());
  CHECK(record.id == "0.3.1");
  CHECK(record.startMs == 1200);
  CHECK(record.method == "GET");
  CHECK(record.target == "http://***@example.test/a");
  CHECK(record.target.find("secret") == std::string::npos);

  ExchangeRecord bare; // a failure before any head: no method or target
  beginRecord(bare, "0.3.2", 900, nullptr);
  CHECK(bare.id == "0.3.2");
  CHECK(bare.startMs == 900);
  CHECK(bare.method.empty());
  CHECK(bare.target.empty());
}

TEST_CASE("intake: the flow of a plain GET keeps the connection", "[intake]") {
  ParsedHead parsed("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n");
  std::string address = "192.0.2.1:5000";
  RequestFlow flow = flowOfHead(parsed.parser, parsed.facts, false, addressHost(address));
  CHECK(flow.clientKeepAlive);
  CHECK(flow.clientMinor == 1);
  CHECK_FALSE(flow.isHead);
  CHECK_FALSE(flow.expectContinue);
  CHECK_FALSE(flow.requestComplete);
  CHECK(flow.head == &parsed.parser.request());
  CHECK(flow.facts == &parsed.facts);
  CHECK(flow.framing == http::BodyFraming::None);
  CHECK(flow.clientHost == "192.0.2.1");
}

TEST_CASE("intake: Connection: close, HTTP/1.0 and a draining worker end keep-alive", "[intake]") {
  {
    ParsedHead parsed("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    CHECK_FALSE(flowOfHead(parsed.parser, parsed.facts, false, "").clientKeepAlive);
  }
  {
    ParsedHead parsed("GET http://a/ HTTP/1.0\r\nHost: a\r\n\r\n");
    RequestFlow flow = flowOfHead(parsed.parser, parsed.facts, false, "");
    CHECK_FALSE(flow.clientKeepAlive);
    CHECK(flow.clientMinor == 0);
  }
  {
    ParsedHead parsed("GET http://a/ HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    CHECK(flowOfHead(parsed.parser, parsed.facts, false, "").clientKeepAlive);
    CHECK_FALSE(flowOfHead(parsed.parser, parsed.facts, true, "").clientKeepAlive);
  }
}

TEST_CASE("intake: HEAD, framing and content length come from the head", "[intake]") {
  {
    ParsedHead parsed("HEAD http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(flowOfHead(parsed.parser, parsed.facts, false, "").isHead);
  }
  {
    ParsedHead parsed("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
    RequestFlow flow = flowOfHead(parsed.parser, parsed.facts, false, "");
    CHECK(flow.framing == http::BodyFraming::ContentLength);
    CHECK(flow.contentLength == 42);
  }
  {
    ParsedHead parsed("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(flowOfHead(parsed.parser, parsed.facts, false, "").framing == http::BodyFraming::Chunked);
  }
}

TEST_CASE("intake: Expect: 100-continue counts only with a body to wait with", "[intake]") {
  {
    ParsedHead parsed("PUT http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                      "Expect:  100-Continue \r\n\r\n");
    CHECK(flowOfHead(parsed.parser, parsed.facts, false, "").expectContinue);
  }
  {
    ParsedHead parsed("PUT http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                      "Expect: 100-continue\r\n\r\n");
    CHECK(flowOfHead(parsed.parser, parsed.facts, false, "").expectContinue);
  }
  {
    ParsedHead parsed("GET http://a/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
    CHECK_FALSE(flowOfHead(parsed.parser, parsed.facts, false, "").expectContinue);
  }
  {
    ParsedHead parsed("PUT http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                      "Expect: something-else\r\n\r\n");
    CHECK_FALSE(flowOfHead(parsed.parser, parsed.facts, false, "").expectContinue);
  }
}

TEST_CASE("intake: body bytes read with a chunked head must begin a chunk", "[intake]") {
  ParsedHead chunked("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK_FALSE(refuseSameRead(chunked.parser, ""));
  CHECK_FALSE(refuseSameRead(chunked.parser, "5\r\nhello\r\n"));
  CHECK_FALSE(refuseSameRead(chunked.parser, "1f")); // the rest of the line is still to come
  std::optional<ErrorAnswer> refused = refuseSameRead(chunked.parser, "zz\r\n");
  REQUIRE(refused);
  CHECK(refused->error == ProxyError::BadRequest);
  CHECK(refused->phase == Phase::ReadHead);
  CHECK(refused->detail == "request body: invalid chunk size line");

  // Only a chunked body is checked: a Content-Length body is any bytes.
  ParsedHead sized("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n");
  CHECK_FALSE(refuseSameRead(sized.parser, "zz\r\n"));
}

TEST_CASE("intake: who asks over plain TCP is the address and its host", "[intake]") {
  std::string address = "[2001:db8::5]:40000";
  policy::ClientIdentity identity = identityOf(address, nullptr);
  CHECK(identity.address == address);
  CHECK(identity.host == "2001:db8::5");
  CHECK_FALSE(identity.tlsListener);
  CHECK(identity.certificate == 0);
  CHECK(identity.certificateSubject.empty());
}

TEST_CASE("intake: the record takes the decision's user, rule and report-mode denial", "[intake]") {
  policy::RequestFacts facts;
  facts.user = "alice";
  facts.claimedUser = "mallory";
  facts.rule = "staff";
  facts.wouldDeny = "report-only";
  ExchangeRecord record;
  recordDecision(record, facts, 4321);
  CHECK(record.decidedMs == 4321);
  CHECK(record.user == "alice");
  CHECK(record.claimedUser == "mallory");
  CHECK(record.rule == "staff");
  CHECK(record.wouldDeny == "report-only");

  facts = policy::RequestFacts{}; // nothing decided by a rule: the strings stay empty
  ExchangeRecord plain;
  recordDecision(plain, facts, 10);
  CHECK(plain.user.empty());
  CHECK(plain.claimedUser.empty());
  CHECK(plain.wouldDeny.empty());
}

TEST_CASE("intake: a refusal verdict becomes the answer with its public detail and fields",
          "[intake]") {
  policy::Verdict verdict;
  verdict.kind = policy::Verdict::Kind::Refuse;
  verdict.error = ProxyError::AuthRequired;
  verdict.phase = Phase::Auth;
  verdict.detail = "no credentials";
  verdict.publicDetail = "authentication required";
  verdict.fields.add("Proxy-Authenticate", "Basic realm=\"gatehouse\"");
  ErrorAnswer answer = refusalAnswer(verdict);
  CHECK(answer.error == ProxyError::AuthRequired);
  CHECK(answer.phase == Phase::Auth);
  CHECK(answer.detail == "no credentials");
  CHECK(answer.publicDetail == "authentication required");
  CHECK(answer.fields.get("proxy-authenticate") == "Basic realm=\"gatehouse\"");
  CHECK(answer.rcode.empty());
}
