#include <catch2/catch.hpp>

#include "gatehouse/http/head_scanner.h"

using gatehouse::http::HeadScanError;
using gatehouse::http::HeadScanner;

namespace {
HeadScanError scanAll(std::string_view head) {
  HeadScanner scanner;
  size_t used = 0;
  auto result = scanner.scan(head, used);
  if (result == HeadScanner::Result::Complete) {
    return HeadScanError::None;
  }
  return scanner.error();
}
} // namespace

TEST_CASE("head scanner accepts a normal head") {
  REQUIRE(scanAll("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n") == HeadScanError::None);
}
