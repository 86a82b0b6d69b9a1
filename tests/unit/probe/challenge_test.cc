// Challenge parsing (RFC 9110 section 11) and NTLM/Negotiate token decoding.

#include <catch2/catch.hpp>

#include "gatehouse/probe/challenge.h"

using namespace gatehouse::probe;

namespace {

ChallengeList parse(std::string_view value) {
  ChallengeList list;
  parseChallenges(value, list);
  return list;
}

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) {
    s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  return s;
}

// An NTLM type 2 message naming `target` (UTF-16LE) with `flags`.
std::string ntlmType2(const std::string& target, uint32_t flags) {
  std::string utf16;
  for (char c : target) {
    utf16 += c;
    utf16 += '\0';
  }
  std::string m = std::string("NTLMSSP\0", 8) + le32(2);
  uint16_t len = static_cast<uint16_t>(utf16.size());
  m += std::string{static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  m += std::string{static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  m += le32(48);
  m += le32(flags);
  m += std::string(8, '\x11'); // server challenge
  m += std::string(8, '\0');   // reserved
  m += std::string(8, '\0');   // target info fields
  return m + utf16;
}

} // namespace

TEST_CASE("a single Basic challenge with quoted parameters", "[probe]") {
  auto list = parse(R"(Basic realm="Example Corp", charset="UTF-8")");
  REQUIRE(list.problems.empty());
  REQUIRE(list.challenges.size() == 1);
  const Challenge& c = list.challenges[0];
  CHECK(c.is("basic"));
  REQUIRE(c.param("REALM"));
  CHECK(c.param("realm")->value == "Example Corp");
  CHECK(c.param("realm")->quoted);
  CHECK(c.param("charset")->value == "UTF-8");
  CHECK(challengeViolations(c).empty());
}

TEST_CASE("several challenges in one field are told apart from their parameters", "[probe]") {
  auto list = parse(R"(Digest realm="r", nonce="abc", qop="auth,auth-int", algorithm=SHA-256, )"
                    R"(Basic realm="r", NTLM, Negotiate YIIBzQYGKwYBBQUCoIIBwTCCAb2g==)");
  REQUIRE(list.problems.empty());
  REQUIRE(list.challenges.size() == 4);
  CHECK(list.challenges[0].scheme == "Digest");
  CHECK(list.challenges[0].params.size() == 4);
  CHECK(list.challenges[0].param("qop")->value == "auth,auth-int");
  CHECK_FALSE(list.challenges[0].param("algorithm")->quoted);
  CHECK(list.challenges[1].scheme == "Basic");
  CHECK(list.challenges[2].scheme == "NTLM");
  CHECK(list.challenges[2].token68.empty());
  CHECK(list.challenges[3].scheme == "Negotiate");
  CHECK(list.challenges[3].token68 == "YIIBzQYGKwYBBQUCoIIBwTCCAb2g==");
  auto details = challengeDetails(list.challenges[0]);
  CHECK(std::find(details.begin(), details.end(), "Digest algorithm SHA-256") != details.end());
  CHECK(std::find(details.begin(), details.end(), "qop auth,auth-int") != details.end());
}

TEST_CASE("challenges from several fields accumulate", "[probe]") {
  ChallengeList list;
  parseChallenges("NTLM", list);
  parseChallenges(R"(Basic realm="x")", list);
  REQUIRE(list.challenges.size() == 2);
  CHECK(isConnectionBound(list.challenges[0]));
  CHECK_FALSE(isConnectionBound(list.challenges[1]));
}

TEST_CASE("a token68 ending in '=' is not a parameter, and BWS around '=' is", "[probe]") {
  auto list = parse("Negotiate abc=, Basic realm = \"x\"");
  REQUIRE(list.problems.empty());
  REQUIRE(list.challenges.size() == 2);
  CHECK(list.challenges[0].token68 == "abc=");
  CHECK(list.challenges[1].param("realm")->value == "x");
  list = parse("Custom a/b+c==");
  REQUIRE(list.challenges.size() == 1);
  CHECK(list.challenges[0].token68 == "a/b+c==");
}

TEST_CASE("violations: unquoted realm, charset other than UTF-8, missing realm and nonce",
          "[probe]") {
  auto list = parse("Basic realm=corp, charset=ISO-8859-1");
  REQUIRE(list.challenges.size() == 1);
  auto v = challengeViolations(list.challenges[0]);
  REQUIRE(v.size() == 2);
  CHECK(v[0].find("bare token") != std::string::npos);
  CHECK(v[1].find("ISO-8859-1") != std::string::npos);
  v = challengeViolations(parse("Basic").challenges[0]);
  REQUIRE(v.size() == 1);
  CHECK(v[0].find("without realm") != std::string::npos);
  v = challengeViolations(parse(R"(Digest realm="r")").challenges[0]);
  REQUIRE(v.size() == 1);
  CHECK(v[0].find("nonce") != std::string::npos);
}

TEST_CASE("grammar problems are reported, and what can be read is kept", "[probe]") {
  auto list = parse(R"(Basic realm="unterminated)");
  REQUIRE(list.challenges.size() == 1);
  CHECK(list.challenges[0].param("realm")->value == "unterminated");
  REQUIRE(list.problems.size() == 1);
  CHECK(list.problems[0].find("unterminated") != std::string::npos);

  list = parse(R"(realm="x", Basic realm="y")");
  REQUIRE(list.challenges.size() == 1);
  CHECK(list.problems[0].find("before any scheme") != std::string::npos);

  list = parse(R"(Basic realm="a", realm="b")");
  CHECK(list.problems.size() == 1);
  CHECK(list.problems[0].find("repeated") != std::string::npos);

  list = parse("Basic realm=\"a\" junk, NTLM");
  CHECK(list.challenges.size() == 2);
  CHECK(list.problems.size() == 1);

  CHECK(parse("  ").problems.size() == 1);
  CHECK(parse("@@@").challenges.empty());
  CHECK_FALSE(parse("@@@").problems.empty());
}

TEST_CASE("quoted-pair escapes are unescaped", "[probe]") {
  auto list = parse(R"(Basic realm="say \"hi\" \\ there")");
  REQUIRE(list.challenges.size() == 1);
  CHECK(list.challenges[0].param("realm")->value == R"(say "hi" \ there)");
}

TEST_CASE("NTLM type 2 tokens decode to type, flags and target", "[probe]") {
  std::string message = ntlmType2("CORP", 0x00000001 | 0x00000200 | 0x00080000 | 0x20000000);
  NtlmMessage m = decodeNtlm(message);
  CHECK(m.type == 2);
  CHECK(m.targetName == "CORP");
  CHECK(m.flagNames ==
        std::vector<std::string>{"UNICODE", "NTLM", "EXTENDED_SESSIONSECURITY", "128"});
  ChallengeList list;
  parseChallenges("NTLM " + encodeBase64(message), list);
  REQUIRE(list.challenges.size() == 1);
  std::string described = describeToken(list.challenges[0]);
  CHECK(described.find("NTLM type 2 (challenge), target \"CORP\"") == 0);

  // Type 1 and 3 flags sit elsewhere; truncation and other types are reported.
  std::string type1 = std::string("NTLMSSP\0", 8) + le32(1) + le32(0x00000207);
  CHECK(decodeNtlm(type1).type == 1);
  CHECK(decodeNtlm(type1).flags == 0x207);
  CHECK(decodeNtlm(std::string("NTLMSSP\0", 8) + le32(3)).error.find("truncated") !=
        std::string::npos);
  CHECK(decodeNtlm(std::string("NTLMSSP\0", 8) + le32(7)).type == 0);
  CHECK(decodeNtlm("hello").error == "no NTLMSSP signature");
  // A type 2 whose target name points outside the message keeps the flags, drops the name.
  std::string bad = message.substr(0, 48);
  CHECK(decodeNtlm(bad).targetName.empty());
}

TEST_CASE("Negotiate tokens: SPNEGO mechanisms and raw NTLM inside", "[probe]") {
  // GSS-API initial token wrapping SPNEGO with Kerberos and NTLM mechanisms.
  std::string token = std::string("\x60\x28", 2) + "\x06\x06\x2b\x06\x01\x05\x05\x02" +
                      "\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" +
                      std::string("\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 12);
  Challenge c{"Negotiate", encodeBase64(token), {}};
  std::string d = describeToken(c);
  CHECK(d.find("GSS-API initial token") == 0);
  CHECK(d.find("SPNEGO Kerberos NTLM") != std::string::npos);

  std::string resp = std::string("\xa1\x07\x30\x05\xa0\x03\x0a\x01\x01", 9);
  d = describeToken(Challenge{"Negotiate", encodeBase64(resp), {}});
  CHECK(d.find("negState accept-incomplete") != std::string::npos);

  d = describeToken(Challenge{"Negotiate", encodeBase64(ntlmType2("X", 1)), {}});
  CHECK(d.find("raw NTLM type 2") == 0);
  CHECK(describeToken(Challenge{"Negotiate", "!!!", {}}) == "token is not base64");
}

TEST_CASE("base64 round trip, padding optional", "[probe]") {
  CHECK(encodeBase64("alice:pa:ss") == "YWxpY2U6cGE6c3M=");
  CHECK(decodeBase64("YWxpY2U6cGE6c3M=") == std::optional<std::string>("alice:pa:ss"));
  CHECK(decodeBase64("YWxpY2U6cGE6c3M") == std::optional<std::string>("alice:pa:ss"));
  CHECK_FALSE(decodeBase64("a"));
  CHECK_FALSE(decodeBase64("ab$c"));
  CHECK(decodeBase64("") == std::optional<std::string>(""));
}
