// Squid's helper reply lines: result codes, channel IDs, kv-pairs, escaping, line splitting.

#include <catch2/catch.hpp>

#include "gatehouse/auth/helper_protocol.h"

using namespace gatehouse::auth;

TEST_CASE("helper replies: OK, ERR and BH with kv-pairs, quoted and %-escaped values") {
  auto r = parseHelperReply("OK user=alice%40corp message=\"hello \\\"you\\\"\"", false);
  REQUIRE(r);
  CHECK(r->result == HelperResult::Ok);
  CHECK_FALSE(r->channel);
  CHECK(r->note("user") == "alice@corp");
  CHECK(r->note("message") == "hello \"you\"");
  r = parseHelperReply("ERR", false);
  REQUIRE(r);
  CHECK(r->result == HelperResult::Err);
  CHECK(r->notes.empty());
  // A BH's free text is its message (Squid's compatibility rule); ERR ignores it.
  r = parseHelperReply("BH Can't contact LDAP server", false);
  REQUIRE(r);
  CHECK(r->result == HelperResult::BrokenHelper);
  CHECK(r->note("message") == "Can't contact LDAP server");
  r = parseHelperReply("ERR No such user", false);
  REQUIRE(r);
  CHECK(r->result == HelperResult::Err);
  CHECK(r->note("message").empty());
}

TEST_CASE("helper replies: the code must stand alone - anything else is Unknown") {
  CHECK(parseHelperReply("OKAY", false)->result == HelperResult::Unknown);
  CHECK(parseHelperReply("ok", false)->result == HelperResult::Unknown);
  CHECK(parseHelperReply("", false)->result == HelperResult::Unknown);
  CHECK(parseHelperReply("ERRor", false)->result == HelperResult::Unknown);
  CHECK(parseHelperReply("<html>", false)->result == HelperResult::Unknown);
  // A key=value with a space after '=' is not a pair (Squid stops parsing there).
  auto r = parseHelperReply("OK user= alice", false);
  REQUIRE(r);
  CHECK(r->notes.empty());
}

TEST_CASE("helper replies with channel IDs") {
  auto r = parseHelperReply("17 OK user=bob", true);
  REQUIRE(r);
  CHECK(r->channel == 17u);
  CHECK(r->result == HelperResult::Ok);
  CHECK(r->note("user") == "bob");
  CHECK_FALSE(parseHelperReply("OK", true));                         // no ID where one is required
  CHECK_FALSE(parseHelperReply("17", true));                         // ID without a reply
  CHECK_FALSE(parseHelperReply("17OK", true));                       // no separator
  CHECK_FALSE(parseHelperReply("-1 OK", true));                      // not a number
  CHECK_FALSE(parseHelperReply(std::string(40, '9') + " OK", true)); // overflow
}

TEST_CASE("helper fields are %-escaped so no byte can split or forge a request") {
  CHECK(helperEscape("alice") == "alice");
  CHECK(helperEscape("a b%c\n") == "a%20b%25c%0A");
  CHECK(helperEscape("j\xc3\xb6rg") == "j%C3%B6rg");
  CHECK(helperUnescape("a%20b%25c%0a") == "a b%c\n");
  CHECK(helperUnescape("100%") == "100%"); // a bad escape stays as is
  CHECK(helperUnescape("%zz%4") == "%zz%4");
  for (std::string s :
       {std::string(), std::string("x y"), std::string("%%%"), std::string("\0\x7f\xff", 3)}) {
    CHECK(helperUnescape(helperEscape(s)) == s);
  }
}

TEST_CASE("helper output splits into lines across reads, bounded in length") {
  LineSplitter splitter(16);
  REQUIRE(splitter.feed("OK\r\nER"));
  CHECK(splitter.next() == std::optional<std::string>("OK"));
  CHECK_FALSE(splitter.next());
  REQUIRE(splitter.feed("R\n"));
  CHECK(splitter.next() == std::optional<std::string>("ERR"));
  CHECK_FALSE(splitter.feed(std::string(17, 'x')));
}

TEST_CASE("a reply is logged only in a safe, truncated form") {
  CHECK(loggableReply("OK \"x\"\n") == "OK \\x22x\\x22\\x0a");
  CHECK(loggableReply(std::string(500, 'a')).size() == 123);
}
