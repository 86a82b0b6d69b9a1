#pragma once
// Checking a password against an htpasswd hash: bcrypt ($2y$, $2b$, $2a$), SHA-512/256-crypt
// ($6$, $5$) and MD5-crypt ($1$) through libxcrypt, Apache MD5 ($apr1$) and {SHA} here, and
// plain text only when explicitly allowed. Comparisons are constant-time.

#include <string>
#include <string_view>

namespace gatehouse::auth {

enum class HashFormat { Bcrypt, Sha512Crypt, Sha256Crypt, Md5Crypt, AprMd5, Sha1, Plain, Unknown };
HashFormat detectFormat(std::string_view hash, bool allowPlain);
const char* formatName(HashFormat format);
// True for formats slow enough to be checked off the event loop.
bool isSlow(HashFormat format);

enum class VerifyResult { Match, Mismatch, Unsupported };
VerifyResult verifyPassword(std::string_view password, std::string_view hash, bool allowPlain);

// Apache's $apr1$ MD5 (exposed for tests): the hash of `password` with `salt` (up to 8 chars).
std::string aprMd5(std::string_view password, std::string_view salt);
// Constant-time equality of two byte strings (length may leak, content does not).
bool constantTimeEquals(std::string_view a, std::string_view b);

} // namespace gatehouse::auth
