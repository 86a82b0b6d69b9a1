#include <catch2/catch.hpp>

#include "gatehouse/http/head_scanner.h"

using gatehouse::http::HeadScanError;
using gatehouse::http::HeadScanner;

namespace {
HeadScanError scanAll(std::string_view head, HeadScanner::Limits limits = {}) {
  HeadScanner scanner(limits);
  size_t used = 0;
  auto result = scanner.scan(head, used);
  if (result == HeadScanner::Result::Complete) {
    return HeadScanError::None;
  }
  return result == HeadScanner::Result::Error ? scanner.error() : HeadScanError::None;
}
} // namespace

TEST_CASE("head scanner accepts a normal head and reports where it ends") {
  HeadScanner scanner;
  size_t used = 0;
  std::string head = "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n";
  REQUIRE(scanner.scan(head + "BODY", used) == HeadScanner::Result::Complete);
  CHECK(used == head.size());
}

TEST_CASE("head scanner works across arbitrary read boundaries") {
  std::string head = "GET http://a/ HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
  for (size_t split = 1; split < head.size(); ++split) {
    HeadScanner scanner;
    size_t used = 0;
    REQUIRE(scanner.scan(head.substr(0, split), used) == HeadScanner::Result::NeedMore);
    CHECK(used == split);
    REQUIRE(scanner.scan(head.substr(split), used) == HeadScanner::Result::Complete);
    CHECK(used == head.size() - split);
  }
}

TEST_CASE("head scanner ignores empty lines before the request line") {
  CHECK(scanAll("\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n") == HeadScanError::None);
}

TEST_CASE("head scanner refuses what llhttp 8.1.0 lets through") {
  CHECK(scanAll("GET / HTTP/1.1\r\nX-Abc:\rxTransfer-Encoding: chunked\r\n\r\n") ==
        HeadScanError::BareCr);
  CHECK(scanAll("GET /x\nHost: a\r\n\r\n") == HeadScanError::BareLf);
  CHECK(scanAll("GET / HTTP/1.1\r\nHost: a\r\n\n") == HeadScanError::BareLf);
  CHECK(scanAll("GET / HTTP/1.1\r\nFoo: bar\r\n Content-Length: 38\r\n\r\n") ==
        HeadScanError::ObsFold);
  CHECK(scanAll("GET / HTTP/1.1\r\nFoo: bar\r\n\tx\r\n\r\n") == HeadScanError::ObsFold);
  CHECK(scanAll("GET / HTTP/1.1\r\n: b\r\n\r\n") == HeadScanError::EmptyFieldName);
  CHECK(scanAll("GET / HTTP/1.1\r\n:\r\n\r\n") == HeadScanError::EmptyFieldName);
  CHECK(scanAll("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n") ==
        HeadScanError::WhitespaceBeforeColon);
  CHECK(scanAll(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27)) == HeadScanError::NulByte);
}

TEST_CASE("head scanner enforces size, field count and request line limits") {
  HeadScanner::Limits limits;
  limits.maxHeadBytes = 100;
  limits.maxFields = 2;
  limits.maxStartLine = 30;
  CHECK(scanAll("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", limits) == HeadScanError::None);
  CHECK(scanAll("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits) ==
        HeadScanError::TooManyFields);
  CHECK(scanAll("GET /" + std::string(40, 'a') + " HTTP/1.1\r\n\r\n", limits) ==
        HeadScanError::StartLineTooLong);
  CHECK(scanAll("GET / HTTP/1.1\r\nA: " + std::string(200, 'a') + "\r\n\r\n", limits) ==
        HeadScanError::HeadTooLarge);
}
