// Digest answers against the worked examples of RFC 7616 section 3.9.1.

#include <catch2/catch.hpp>

#include "gatehouse/probe/digest.h"

using namespace gatehouse::probe;

namespace {

Challenge rfcChallenge(const std::string& algorithm) {
  ChallengeList list;
  parseChallenges(
      "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=" + algorithm +
          ", nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
          "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
      list);
  REQUIRE(list.challenges.size() == 1);
  return list.challenges[0];
}

const std::string kCnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

} // namespace

TEST_CASE("Digest MD5 and SHA-256 answers match RFC 7616's examples", "[probe]") {
  DigestAnswer md5 = answerDigest(rfcChallenge("MD5"), "GET", "/dir/index.html", "Mufasa",
                                  "Circle of Life", kCnonce);
  REQUIRE(md5.error.empty());
  CHECK(md5.header.find("response=\"8ca523f5e9506fed4657c9700eebdbec\"") != std::string::npos);
  CHECK(md5.header.find("qop=auth, nc=00000001, cnonce=\"" + kCnonce + "\"") != std::string::npos);
  CHECK(md5.header.find("opaque=\"FQhe/") != std::string::npos);
  CHECK(md5.masked.find("8ca523f5") == std::string::npos);
  CHECK(md5.masked.find("response=<masked>") != std::string::npos);

  DigestAnswer sha = answerDigest(rfcChallenge("SHA-256"), "GET", "/dir/index.html", "Mufasa",
                                  "Circle of Life", kCnonce);
  CHECK(sha.header.find(
            "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"") !=
        std::string::npos);
}

TEST_CASE("Digest without qop, -sess, and what cannot be answered", "[probe]") {
  ChallengeList list;
  parseChallenges(R"(Digest realm="r", nonce="n")", list);
  DigestAnswer legacy = answerDigest(list.challenges[0], "GET", "/", "u", "p", std::string("c"));
  REQUIRE(legacy.error.empty());
  CHECK(legacy.header.find("qop") == std::string::npos);
  // RFC 2069: H(H(u:r:p):n:H(GET:/)), computed independently.
  CHECK(legacy.header.find("response=\"f23121ca97143c6b358da620220c83b4\"") != std::string::npos);

  DigestAnswer sess =
      answerDigest(rfcChallenge("SHA-256-sess"), "CONNECT", "a:443", "u", "p", std::string("c"));
  CHECK(sess.error.empty());
  CHECK(sess.header.find("algorithm=SHA-256-sess") != std::string::npos);

  CHECK_FALSE(answerDigest(rfcChallenge("SHA-512-256"), "GET", "/", "u", "p").error.empty());
  list = {};
  parseChallenges(R"(Digest realm="r", nonce="n", qop="auth-int")", list);
  CHECK_FALSE(answerDigest(list.challenges[0], "GET", "/", "u", "p").error.empty());
  list = {};
  parseChallenges(R"(Digest realm="r")", list);
  CHECK(answerDigest(list.challenges[0], "GET", "/", "u", "p").error.find("nonce") !=
        std::string::npos);
}
