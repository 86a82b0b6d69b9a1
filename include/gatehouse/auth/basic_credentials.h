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
  ControlCharacter,  // a NUL or other control byte in the decoded user or password
  UnknownUser,
  WrongPassword,
  UnsupportedHash,    // the user's stored hash is in a format this proxy cannot check
  Throttled,          // too many wrong passwords for this user from this address (429)
  HelperFailure,      // the auth helper answered BH: it could not decide (407, as Squid)
  BackendBusy,        // too many hash checks queued: 503 with Retry-After, not a guess
  BackendUnavailable, // the auth helper timed out, died or its queue is full (503)
};
const char* describe(Refusal refusal);
// True for refusals that are the proxy's trouble, not the client's: answered 503.
bool backendTrouble(Refusal refusal);

// A user and password from a Basic token. The password may contain ':' (split at the first).
// Both are wiped (their whole capacity) when the object dies.
struct BasicCredentials {
  std::string user;
  std::string password;
  BasicCredentials(std::string u, std::string p) : user(std::move(u)), password(std::move(p)) {}
  BasicCredentials(BasicCredentials&&) = default;
  BasicCredentials& operator=(BasicCredentials&& other) noexcept; // wipes what it replaces
  BasicCredentials(const BasicCredentials&) = delete;
  BasicCredentials& operator=(const BasicCredentials&) = delete;
  ~BasicCredentials();
};

// Overwrites a string's whole buffer (not just its size) with zeros, then empties it.
void wipe(std::string& secret);

// Parses a Proxy-Authorization value. On failure returns nullopt and sets `refusal`; for
// UnsupportedScheme, `scheme` is the scheme named when it is a plausible one (a short token
// followed by credentials), else empty: nothing else of the header may reach a log.
std::optional<BasicCredentials> parseBasic(std::string_view fieldValue, Refusal& refusal,
                                           std::string& scheme);

// Strict base64 (RFC 4648, padding required, no whitespace); nullopt if invalid.
std::optional<std::string> decodeBase64(std::string_view text);
std::string encodeBase64(std::string_view bytes);

} // namespace gatehouse::auth
