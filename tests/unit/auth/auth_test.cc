// Basic credentials, every htpasswd hash format, and user files. The hashes were made with
// `htpasswd -nb -B/-5/-2/-m/-s user 'pa:ss'` and `openssl passwd -1/-apr1`.

#include <catch2/catch.hpp>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/auth/password_hash.h"
#include "gatehouse/auth/user_file.h"

using namespace gatehouse::auth;

TEST_CASE("Basic credentials: scheme case-insensitive, password split at the first colon") {
  Refusal refusal;
  std::string scheme;
  auto c = parseBasic("Basic " + encodeBase64("alice:pa:ss"), refusal, scheme);
  REQUIRE(c);
  CHECK(c->user == "alice");
  CHECK(c->password == "pa:ss");
  c = parseBasic("bAsIc   " + encodeBase64("j\xc3\xb6rg:x"), refusal, scheme);
  REQUIRE(c);
  CHECK(c->user == "j\xc3\xb6rg");
  c = parseBasic("Basic " + encodeBase64(":"), refusal, scheme);
  REQUIRE(c);
  CHECK(c->user.empty());
}

TEST_CASE("Basic credentials: each malformed form has its own reason") {
  Refusal refusal;
  std::string scheme;
  CHECK_FALSE(parseBasic("Digest username=\"a\"", refusal, scheme));
  CHECK(refusal == Refusal::UnsupportedScheme);
  CHECK(scheme == "Digest");
  CHECK_FALSE(parseBasic("Basic !!!!", refusal, scheme));
  CHECK(refusal == Refusal::MalformedBase64);
  CHECK_FALSE(parseBasic("Basic YWxpY2U", refusal, scheme)); // missing padding
  CHECK(refusal == Refusal::MalformedBase64);
  CHECK_FALSE(parseBasic("Basic", refusal, scheme));
  CHECK(refusal == Refusal::MalformedBase64);
  CHECK_FALSE(parseBasic("Basic " + encodeBase64("nocolon"), refusal, scheme));
  CHECK(refusal == Refusal::MissingColon);
  CHECK_FALSE(parseBasic("", refusal, scheme));
  CHECK(refusal == Refusal::NoCredentials);
}

TEST_CASE("base64 round trips and rejects padding in the middle") {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\x00\x01"}) {
    if (!s.empty()) {
      CHECK(decodeBase64(encodeBase64(s)) == s);
    }
  }
  CHECK_FALSE(decodeBase64("YQ==YQ=="));
  CHECK_FALSE(decodeBase64("Y==="));
  CHECK_FALSE(decodeBase64("YW Jj"));
}

TEST_CASE("every htpasswd hash format verifies the right password only") {
  const char* hashes[] = {
      "$2y$05$S8wqPBZzqxejeAEi7aP5ZezKKu8mShpGi43x.wbEoDRhSNrNsdwhG",
      "$6$OMyoOANV9gOgBm.H$zYL4du24aSWDfXzitW4ZTZarL398WIDdaCUQCchEPnMaju1xX5TFBXeij36dUe."
      "lFM42u44aKAD3KqHppv9y0.",
      "$5$s24ephcyqqYG8s8v$I90wgxix0OjVdAzvrDwSXMAZC2jRiq.gowbIe/2hgx7",
      "$apr1$oNbAvS/H$AZd9MZRykWEFDO52NRiTo1",
      "{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=",
      "$1$abcdefgh$jNFk/GILp9rmbOJ0psRNC.",
  };
  for (const char* hash : hashes) {
    INFO(hash);
    CHECK(verifyPassword("pa:ss", hash, false) == VerifyResult::Match);
    CHECK(verifyPassword("pa:sS", hash, false) == VerifyResult::Mismatch);
    CHECK(verifyPassword("", hash, false) == VerifyResult::Mismatch);
  }
  // $2b$ and $2a$ are the same algorithm.
  std::string b = "$2b$05$S8wqPBZzqxejeAEi7aP5ZezKKu8mShpGi43x.wbEoDRhSNrNsdwhG";
  CHECK(verifyPassword("pa:ss", b, false) == VerifyResult::Match);
}

TEST_CASE("Apache MD5 matches openssl passwd -apr1") {
  CHECK(aprMd5("pa:ss", "abcdefgh") == "$apr1$abcdefgh$jENn7gMAVPUBTYVKBjwHl0");
}

TEST_CASE("plain text needs the explicit option") {
  CHECK(detectFormat("secret", false) == HashFormat::Unknown);
  CHECK(verifyPassword("secret", "secret", false) == VerifyResult::Unsupported);
  CHECK(verifyPassword("secret", "secret", true) == VerifyResult::Match);
  CHECK(verifyPassword("Secret", "secret", true) == VerifyResult::Mismatch);
  CHECK(verifyPassword("x", "$2y$05$tooshort", false) == VerifyResult::Unsupported);
}

TEST_CASE("slow formats are marked for the thread pool") {
  CHECK(isSlow(HashFormat::Bcrypt));
  CHECK(isSlow(HashFormat::Sha512Crypt));
  CHECK_FALSE(isSlow(HashFormat::Sha1));
  CHECK_FALSE(isSlow(HashFormat::Plain));
}

TEST_CASE("user files: bad lines are reported with file and line and skipped") {
  std::vector<std::string> warnings;
  auto table = parseUserFile("# comment\n\nalice:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\r\n"
                             "garbage line\nbob:\n:nouser\nalice:{SHA}other\ncarol:plaintext\n",
                             "users.htpasswd", false, warnings);
  CHECK(table->users.size() == 2);
  CHECK(table->users.at("alice").hash == "{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=");
  CHECK(table->users.at("carol").format == HashFormat::Unknown);
  REQUIRE(warnings.size() == 5);
  CHECK(warnings[0].rfind("users.htpasswd:4: ", 0) == 0);
  CHECK(warnings[1].rfind("users.htpasswd:5: ", 0) == 0);
  CHECK(warnings[2].rfind("users.htpasswd:6: ", 0) == 0);
  CHECK(warnings[3].rfind("users.htpasswd:7: ", 0) == 0);
  CHECK(warnings[4].find("unsupported hash format") != std::string::npos);
}

TEST_CASE("an unreadable user file is a start-up error") {
  AuthOptions options;
  options.path = "/nonexistent/users.htpasswd";
  CHECK_THROWS_WITH(AuthStore(options), Catch::Contains("cannot read"));
}

TEST_CASE("a reload keeps the auth store only while its settings and files are unchanged") {
  char dir[] = "/tmp/gatehouse-store-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/users";
  auto write = [&](const std::string& text) { std::ofstream(path, std::ios::trunc) << text; };
  write("alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"); // "password"
  AuthOptions options;
  options.path = path;
  AuthStore store(options);
  CHECK(store.unchangedFor(options));

  AuthOptions otherRealm = options;
  otherRealm.realm = "elsewhere";
  CHECK_FALSE(store.unchangedFor(otherRealm));

  // New content with the old modification time (as rsync -t or cp -p deploy a file): the
  // change time still tells.
  struct stat before {};
  REQUIRE(::stat(path.c_str(), &before) == 0);
  write("bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n");
  const timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  CHECK_FALSE(store.unchangedFor(options));
  CHECK(store.reloadIfChanged().find("reloaded 1 users") != std::string::npos);
  CHECK(store.users()->users.count("bob") == 1);
  CHECK(store.unchangedFor(options));

  std::remove(path.c_str());
  CHECK_FALSE(store.unchangedFor(options)); // gone: a reload must fail as a start would
  ::rmdir(dir);
}

TEST_CASE("constant-time comparison") {
  CHECK(constantTimeEquals("abc", "abc"));
  CHECK_FALSE(constantTimeEquals("abc", "abd"));
  CHECK_FALSE(constantTimeEquals("abc", "abcd"));
}
