// The llhttp adapter against known request-smuggling inputs (requests and responses).

#include <algorithm>

#include <catch2/catch.hpp>

#include "gatehouse/http/parser.h"

using namespace gatehouse::http;

namespace {

struct Collect : BodySink {
  std::string body;
  HeaderList trailers;
  void onBodyData(std::string_view data) override { body.append(data); }
  void onTrailers(const HeaderList& t) override { trailers = t; }
};

// Feeds everything; returns the statuses seen until NeedMore or Error.
std::vector<ParseStatus> feed(MessageParser& parser, std::string_view data) {
  std::vector<ParseStatus> out;
  while (true) {
    size_t used = 0;
    ParseStatus s = parser.execute(data, used);
    data.remove_prefix(used);
    out.push_back(s);
    if (s == ParseStatus::Error || s == ParseStatus::Upgrade ||
        (s == ParseStatus::NeedMore && data.empty())) {
      return out;
    }
  }
}

int requestError(std::string_view raw) {
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  auto statuses = feed(parser, raw);
  return statuses.back() == ParseStatus::Error ? parser.errorStatus() : 0;
}

int responseError(std::string_view raw) {
  Collect sink;
  MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
  auto statuses = feed(parser, raw);
  return statuses.back() == ParseStatus::Error ? parser.errorStatus() : 0;
}

} // namespace

TEST_CASE("parser reads a request head, fields in order with duplicates") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  auto statuses =
      feed(parser, "GET http://a/b HTTP/1.1\r\nHost: a\r\nX: 1\r\nx: 2\r\nEmpty:\r\n\r\n");
  REQUIRE(statuses.at(0) == ParseStatus::HeadComplete);
  CHECK(statuses.at(1) == ParseStatus::MessageComplete);
  const RequestHead& head = parser.request();
  CHECK(head.method == "GET");
  CHECK(head.target == "http://a/b");
  REQUIRE(head.headers.size() == 4);
  CHECK(head.headers.fields()[1].value == "1");
  CHECK(head.headers.fields()[2].name == "x");
  CHECK(head.headers.fields()[3].name == "Empty");
  CHECK(head.headers.fields()[3].value.empty());
}

TEST_CASE("parser streams Content-Length and chunked bodies with trailers") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  auto statuses = feed(parser, "POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                               "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n");
  CHECK(sink.body == "helloabc");
  CHECK(sink.trailers.get("x-t") == "1");
  CHECK(std::count(statuses.begin(), statuses.end(), ParseStatus::MessageComplete) == 2);
}

TEST_CASE("request smuggling inputs are rejected") {
  CHECK(requestError(
            "POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        400);
  CHECK(requestError(
            "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") ==
        400);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n") ==
        400);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n") == 400);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n") == 501);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n") == 400);
  CHECK(requestError("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(requestError("GET http://a/ HTTP/1.1\r\nX:\rTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(requestError("GET http://a/ HTTP/1.1\r\nFoo: bar\r\n Content-Length: 38\r\n\r\n") == 400);
  CHECK(requestError(
            "POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx") == 400);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n") == 400);
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n") ==
        400);
  CHECK(requestError(std::string("GET http://a/ HTTP/1.1\r\nX: a\0b\r\n\r\n", 33)) == 400);
  CHECK(requestError("GET http://a/ HTTP/1.1\r\nHost: a\n\r\n") == 400);
  CHECK(requestError("GET /x\nHost: a\r\nContent-Length: 5\r\n\r\nhello") == 400);
  CHECK(requestError("GET http://a/ HTTP/2.0\r\n\r\n") == 505);
  CHECK(requestError("GET http://a/ HTTP/1.2\r\n\r\n") == 400); // llhttp strict mode refuses it
  CHECK(requestError("GET http://a/ HTTP/1.1\r\n: x\r\n\r\n") == 400);
  CHECK(requestError("GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n") == 400);
}

TEST_CASE("a bare CR after a head is not parsed as a second request") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  auto statuses =
      feed(parser, "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n\rXGET /smuggled HTTP/1.1\r\n\r\n");
  CHECK(statuses.front() == ParseStatus::HeadComplete);
  CHECK(statuses.back() == ParseStatus::Error);
  CHECK(std::count(statuses.begin(), statuses.end(), ParseStatus::HeadComplete) == 1);
}

TEST_CASE("chunk framing is strict") {
  // chunk-data not followed by CRLF
  CHECK(requestError(
            "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAXX0\r\n\r\n") ==
        400);
  // chunk-size line ended by a bare CR
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n2\r\r;a\r\nxx\r\n0\r\n\r\n") == 400);
  // huge chunk sizes
  CHECK(requestError(
            "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n") ==
        400);
  CHECK(requestError(
            "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000\r\n") ==
        400);
  // oversized chunk extension
  CHECK(requestError("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=" +
                     std::string(5000, 'x') + "\r\nx\r\n0\r\n\r\n") == 400);
  // a modest extension is fine
  CHECK(
      requestError(
          "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n0\r\n\r\n") ==
      0);
}

TEST_CASE("limits: a long target is 414, a large head 431") {
  ParserLimits limits;
  limits.maxTargetLength = 100;
  limits.head.maxStartLine = 10'000;
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, limits, &sink);
  feed(parser, "GET http://a/" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n");
  CHECK(parser.errorStatus() == 414);
  CHECK(requestError("GET http://a/ HTTP/1.1\r\nX: " + std::string(70'000, 'a') + "\r\n\r\n") ==
        431);
}

TEST_CASE("CONNECT with a body is refused") {
  CHECK(requestError("CONNECT a:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello") == 400);
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  size_t used = 0;
  std::string raw = "CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03";
  CHECK(parser.execute(raw, used) == ParseStatus::HeadComplete);
  CHECK(raw.substr(used) == "\x16\x03"); // tunnel bytes are left for the caller
}

TEST_CASE("response smuggling inputs are rejected") {
  CHECK(responseError("HTTP/1.1 200 OK\r\nX:\rSet-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n") !=
        0);
  CHECK(responseError(
            "HTTP/1.1 200 OK\r\nX: a\r\n Set-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n") != 0);
  CHECK(responseError(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") != 0);
  CHECK(responseError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") != 0);
  CHECK(responseError("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n") != 0);
  CHECK(responseError("garbage\r\n\r\n") != 0);
  CHECK(responseError("HTTP/1.1 200 OK\nContent-Length: 0\n\n") != 0);
}

TEST_CASE("1xx, 204, 304 and HEAD responses have no body even with Content-Length") {
  for (const char* raw : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                          "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}) {
    Collect sink;
    MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
    auto statuses =
        feed(parser, std::string(raw) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    CHECK(statuses.at(1) == ParseStatus::MessageComplete);
    CHECK(sink.body == "ok");
  }
  Collect sink;
  MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
  parser.setRequestWasHead(true);
  auto statuses = feed(parser, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  CHECK(statuses.at(1) == ParseStatus::MessageComplete);
  CHECK(sink.body.empty());
}

TEST_CASE("a response without length is read until close and finish() completes it") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
  feed(parser, "HTTP/1.1 200 OK\r\n\r\nabc");
  CHECK(parser.framing() == BodyFraming::UntilClose);
  CHECK(parser.finish() == ParseStatus::MessageComplete);
  CHECK(sink.body == "abc");
}

TEST_CASE("a truncated Content-Length body is an error at close") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
  feed(parser, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(parser.finish() == ParseStatus::Error);
}

TEST_CASE("a Content-Length body can be partly skipped (spliced) and still ends the message") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
  auto statuses = feed(parser, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  CHECK(statuses.front() == ParseStatus::HeadComplete);
  // No body byte parsed yet: llhttp is not in its counting state, nothing may be skipped.
  CHECK(parser.skippableBodyBytes() == 0);
  feed(parser, "abc");
  CHECK(parser.skippableBodyBytes() == 7);
  CHECK(parser.skipBody(4) == ParseStatus::NeedMore);
  CHECK(parser.skippableBodyBytes() == 3);
  CHECK(parser.skipBody(3) == ParseStatus::MessageComplete);
  CHECK(sink.body == "abc"); // skipped bytes never reach the sink
  CHECK(parser.keepAlive());
  // The next message on the connection parses as usual.
  statuses = feed(parser, "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(statuses.front() == ParseStatus::HeadComplete);
  CHECK(parser.response().status == 204);
}

TEST_CASE("skipping continues with parsed bytes after it, and never past the body") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Response, ParserLimits{}, &sink);
  feed(parser, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\na");
  CHECK(parser.skipBody(2) == ParseStatus::NeedMore);
  auto statuses = feed(parser, "def");
  CHECK(std::count(statuses.begin(), statuses.end(), ParseStatus::MessageComplete) == 1);
  CHECK(sink.body == "adef");
  CHECK_FALSE(parser.keepAlive());

  MessageParser chunked(MessageParser::Type::Response, ParserLimits{}, &sink);
  feed(chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  CHECK(chunked.skippableBodyBytes() == 0); // only Content-Length bodies

  MessageParser over(MessageParser::Type::Response, ParserLimits{}, &sink);
  feed(over, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na");
  CHECK(over.skipBody(5) == ParseStatus::Error);
}

TEST_CASE("parser: a request that asked for an upgrade and got none is followed by another") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  auto first = feed(parser, "GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                            "Upgrade: h2c\r\n\r\n");
  REQUIRE(first.front() == ParseStatus::HeadComplete);
  REQUIRE(first.size() >= 2);
  CHECK((first[1] == ParseStatus::MessageComplete || first[1] == ParseStatus::Upgrade));
  auto second = feed(parser, "GET http://a/next HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(second.front() == ParseStatus::HeadComplete);
  CHECK(parser.request().target == "http://a/next");
}

TEST_CASE("parser wipes Proxy-Authorization values when the message is done with") {
  Collect sink;
  MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
  const std::string secret = "Basic YWxpY2U6YS12ZXJ5LWxvbmctc2VjcmV0LXBhc3N3b3Jk";
  auto statuses =
      feed(parser, "GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Authorization: " + secret +
                       "\r\nAuthorization: Bearer origin-token-stays\r\n\r\n");
  REQUIRE(statuses.at(0) == ParseStatus::HeadComplete);
  const std::string& value = parser.request().headers.fields()[1].value;
  REQUIRE(value == secret);
  const char* bytes = value.data();
  const size_t capacity = value.capacity();
  parser.reset(); // as the connection does between requests
  // The string still owns its buffer (cleared, not freed): every byte of it is zero now.
  CHECK(std::all_of(bytes, bytes + capacity, [](char c) { return c == 0; }));
  // Only the proxy's own credentials: the origin's Authorization is the client's business.
  CHECK(parser.request().headers.fields()[2].value == "Bearer origin-token-stays");
}

TEST_CASE("parser: whitespace after a field value is not part of it, however the head is split") {
  const std::string raw = "POST http://a/ HTTP/1.1\r\nHost: a \r\nX-Tab: v\t\t\r\nX-Both: v \t\r\n"
                          "X-Inner: a b\r\nTransfer-Encoding: chunked \r\n\r\n0\r\n\r\n";
  // Whole, then in every two-part split, then a byte at a time: a space held at the end of
  // one piece and the CR in the next must still be seen together.
  std::vector<std::vector<std::string>> feeds{{raw}};
  for (size_t cut = 1; cut < raw.size(); ++cut) {
    feeds.push_back({raw.substr(0, cut), raw.substr(cut)});
  }
  std::vector<std::string> bytes;
  for (char c : raw) {
    bytes.emplace_back(1, c);
  }
  feeds.push_back(bytes);
  for (const auto& pieces : feeds) {
    INFO("pieces: " << pieces.size() << ", first " << pieces.front().size() << " bytes");
    Collect sink;
    MessageParser parser(MessageParser::Type::Request, ParserLimits{}, &sink);
    std::vector<ParseStatus> statuses;
    for (const std::string& piece : pieces) {
      auto s = feed(parser, piece);
      statuses.insert(statuses.end(), s.begin(), s.end());
    }
    REQUIRE(std::find(statuses.begin(), statuses.end(), ParseStatus::Error) == statuses.end());
    CHECK(std::find(statuses.begin(), statuses.end(), ParseStatus::MessageComplete) !=
          statuses.end());
    const HeaderList& h = parser.request().headers;
    CHECK(h.get("host").value_or("?") == "a");
    CHECK(h.get("x-tab").value_or("?") == "v");
    CHECK(h.get("x-both").value_or("?") == "v");
    CHECK(h.get("x-inner").value_or("?") == "a b");
    CHECK(parser.framing() == BodyFraming::Chunked);
  }
}
