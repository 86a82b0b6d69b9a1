// htpasswd parsing: arbitrary text through parseUserFile (lines, CR LF, comments, duplicates,
// hash format detection) and password checks against the parsed hashes of the formats that
// cost no more than 1000 MD5 rounds ({SHA}, plain, Apache MD5, MD5-crypt). bcrypt and SHA-crypt
// are left out: their cost parameter comes from the file, which an administrator writes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "gatehouse/auth/user_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  if (size == 0) {
    return 0;
  }
  const bool allowPlain = data[0] & 1;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> warnings;
  auto table = auth::parseUserFile(text, "fuzz.htpasswd", allowPlain, warnings);
  FUZZ_CHECK(table != nullptr);
  for (const std::string& warning : warnings) {
    // Every warning names file and line.
    FUZZ_CHECK(warning.rfind("fuzz.htpasswd:", 0) == 0);
  }
  // Apache MD5 and MD5-crypt cost 1000 MD5 rounds each, whatever the input: at most one per
  // input, and only when bit 1 of the first byte asks, so most runs stay fast.
  int slowChecks = data[0] & 2 ? 1 : 0;
  for (const auto& [user, entry] : table->users) {
    FUZZ_CHECK(!user.empty() && user.find(':') == std::string::npos);
    FUZZ_CHECK(user.find('\n') == std::string::npos && !entry.hash.empty());
    FUZZ_CHECK(entry.format == auth::detectFormat(entry.hash, allowPlain));
    switch (entry.format) {
    case auth::HashFormat::Sha1:
    case auth::HashFormat::Plain:
      auth::verifyPassword("password", entry.hash, allowPlain);
      break;
    case auth::HashFormat::AprMd5:
    case auth::HashFormat::Md5Crypt:
      if (slowChecks-- > 0) {
        auth::verifyPassword("password", entry.hash, allowPlain);
      }
      break;
    default:
      break;
    }
  }
  return 0;
}
