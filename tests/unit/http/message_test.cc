// Small text helpers of the message model (message.h) that several layers share.

#include <catch2/catch.hpp>

#include "gatehouse/http/message.h"

using namespace gatehouse::http;

TEST_CASE("hex digits: both cases have a value, nothing else does") {
  const std::string digits = "0123456789abcdef";
  for (size_t i = 0; i < digits.size(); ++i) {
    CHECK(hexDigitValue(digits[i]) == static_cast<int>(i));
    CHECK(hexDigitValue(static_cast<char>(std::toupper(digits[i]))) == static_cast<int>(i));
  }
  for (char c : std::string("gG/:@` \0\xff", 10)) {
    CHECK(hexDigitValue(c) == -1);
  }
}

TEST_CASE("field comparisons ignore ASCII case only, and OWS is trimmed at both ends") {
  CHECK(equalsIgnoreCase("Proxy-Authorization", "proxy-authorization"));
  CHECK_FALSE(equalsIgnoreCase("Host", "Hosts"));
  CHECK(trimOws(" \tv a\t ") == "v a");
  CHECK(trimOws(" \t").empty());
}
