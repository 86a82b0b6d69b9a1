#pragma once
// Answers to Digest challenges (RFC 7616) so that a Digest-only proxy can be tested with the
// user's credentials: MD5, SHA-256 and their -sess variants, qop=auth or none (RFC 2069).

#include <optional>
#include <string>

#include "gatehouse/probe/challenge.h"

namespace gatehouse::probe {

// A Proxy-Authorization value and its printable form.
struct DigestAnswer {
  std::string header; // "Digest username=..., response=..."
  std::string masked; // the same with the response hash masked
  std::string error;  // set when the challenge cannot be answered (unknown algorithm, qop)
};

// Answers `challenge` for `method` and request-target `uri` (the authority for CONNECT).
// `cnonce` is random unless given (tests).
DigestAnswer answerDigest(const Challenge& challenge, const std::string& method,
                          const std::string& uri, const std::string& user,
                          const std::string& password,
                          const std::optional<std::string>& cnonce = std::nullopt);

} // namespace gatehouse::probe
