#pragma once
// Decoding the Proxy-Authorization field for the Basic scheme (RFC 7617).

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::auth {

// Why a request was not authenticated. The 407 a client sees is the same for every reason (it
// never reveals whether a user exists); the log line names the exact one.
enum class Refusal {
  None,
  NoCredentials,     // no Proxy-Authorization field
  UnsupportedScheme, // a scheme other than Basic
  MalformedBase64,   // the token is not valid base64
  MissingColon,      // decoded credentials have no ':' between user and password
  UnknownUser,
  WrongPassword,
  UnsupportedHash, // the user's stored hash is in a format this proxy cannot check
  Throttled,       // too many wrong passwords from this address
};
const char* describe(Refusal refusal);

// A user and password from a Basic token. The password may contain ':' (split at the first).
struct BasicCredentials {
  std::string user;
  std::string password;
};

// Parses a Proxy-Authorization value. On failure returns nullopt and sets `refusal` (and
// `scheme` to the scheme named, for UnsupportedScheme).
std::optional<BasicCredentials> parseBasic(std::string_view fieldValue, Refusal& refusal,
                                           std::string& scheme);

// Strict base64 (RFC 4648, padding required, no whitespace); nullopt if invalid.
std::optional<std::string> decodeBase64(std::string_view text);
std::string encodeBase64(std::string_view bytes);

} // namespace gatehouse::auth
