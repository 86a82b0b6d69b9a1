#pragma once
// Parsing of Proxy-Authenticate / WWW-Authenticate challenges (RFC 9110 section 11), with the
// tokens of connection-based schemes (NTLM, Negotiate) decoded to what they say. Lenient:
// whatever can be read is kept and every deviation from the grammar is reported, because the
// point is to explain a proxy's answer, not to refuse it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::probe {

// One auth-param: name=value, remembering whether the value was a quoted-string.
struct AuthParam {
  std::string name;  // as received
  std::string value; // unescaped
  bool quoted = false;
};

// One challenge: a scheme with either a token68 or parameters.
struct Challenge {
  std::string scheme; // as received ("Basic", "NTLM", ...)
  std::string token68;
  std::vector<AuthParam> params;
  // The first parameter with this name (case-insensitive).
  const AuthParam* param(std::string_view name) const;
  bool is(std::string_view scheme) const;
};

// What one or more field values held, plus grammar problems found while reading them.
struct ChallengeList {
  std::vector<Challenge> challenges;
  std::vector<std::string> problems;
};

// Parses one field value (which may hold several challenges) and appends to `out`.
void parseChallenges(std::string_view fieldValue, ChallengeList& out);

// An NTLM message (MS-NLMP) read from its binary form.
struct NtlmMessage {
  int type = 0; // 1 negotiate, 2 challenge, 3 authenticate; 0 unreadable
  uint32_t flags = 0;
  std::vector<std::string> flagNames;
  std::string targetName; // type 2: the domain or server name, when printable
  std::string error;      // why it could not be read
};
NtlmMessage decodeNtlm(std::string_view bytes);

// Base64 (standard alphabet, padding optional) to bytes; nullopt when not base64.
std::optional<std::string> decodeBase64(std::string_view text);
std::string encodeBase64(std::string_view bytes);

// A challenge's token decoded for a human: "NTLM type 2 (challenge), flags ..." or a SPNEGO
// description. Empty when the challenge carries no token.
std::string describeToken(const Challenge& challenge);

// Protocol problems with one challenge as a proxy sent it (unquoted realm, charset other than
// UTF-8, Basic without realm, Digest without nonce, ...). Each is one sentence.
std::vector<std::string> challengeViolations(const Challenge& challenge);
// Short facts about a challenge for the inventory: "realm=\"x\"", "algorithm=SHA-256", ...
std::vector<std::string> challengeDetails(const Challenge& challenge);
// True for schemes that authenticate the connection rather than the request (NTLM, Negotiate,
// Kerberos): they need the proxy to keep the connection open after a 407.
bool isConnectionBound(const Challenge& challenge);

} // namespace gatehouse::probe
