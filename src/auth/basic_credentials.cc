#include "gatehouse/auth/basic_credentials.h"

#include <algorithm>
#include <openssl/crypto.h>

#include "gatehouse/http/message.h"

namespace gatehouse::auth {

const char* describe(Refusal refusal) {
  switch (refusal) {
  case Refusal::None:
    return "authenticated";
  case Refusal::NoCredentials:
    return "no credentials";
  case Refusal::UnsupportedScheme:
    return "unsupported scheme";
  case Refusal::MalformedBase64:
    return "malformed base64";
  case Refusal::MissingColon:
    return "missing colon between user and password";
  case Refusal::ControlCharacter:
    return "control character in credentials";
  case Refusal::UnknownUser:
    return "unknown user";
  case Refusal::WrongPassword:
    return "wrong password";
  case Refusal::UnsupportedHash:
    return "unsupported hash format";
  case Refusal::Throttled:
    return "throttled after repeated wrong passwords";
  case Refusal::HelperFailure:
    return "auth helper failure";
  case Refusal::BackendBusy:
    return "too many password checks queued";
  case Refusal::BackendUnavailable:
    return "auth helper unavailable";
  }
  return "unknown";
}

bool backendTrouble(Refusal refusal) {
  return refusal == Refusal::BackendBusy || refusal == Refusal::BackendUnavailable;
}

void wipe(std::string& secret) {
  // capacity(): a shorter value may have left older bytes past size() in the same buffer.
  OPENSSL_cleanse(secret.data(), secret.capacity());
  secret.clear();
}

BasicCredentials& BasicCredentials::operator=(BasicCredentials&& other) noexcept {
  if (this != &other) {
    wipe(user);
    wipe(password);
    user = std::move(other.user);
    password = std::move(other.password);
  }
  return *this;
}

BasicCredentials::~BasicCredentials() {
  wipe(user);
  wipe(password);
}

namespace {
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int valueOf(char c) {
  size_t i = kAlphabet.find(c);
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}
} // namespace

std::optional<std::string> decodeBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + static_cast<size_t>(k)];
      if (c == '=') {
        // Padding only at the very end, in the last one or two places.
        if (i + 4 != text.size() || k < 2) {
          return std::nullopt;
        }
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad > 0) {
        return std::nullopt; // data after padding
      }
      v[k] = valueOf(c);
      if (v[k] < 0) {
        return std::nullopt;
      }
    }
    unsigned triple = static_cast<unsigned>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out.push_back(static_cast<char>(triple >> 16));
    if (pad < 2) {
      out.push_back(static_cast<char>((triple >> 8) & 0xff));
    }
    if (pad < 1) {
      out.push_back(static_cast<char>(triple & 0xff));
    }
  }
  return out;
}

std::string encodeBase64(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) {
      n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    }
    if (i + 2 < bytes.size()) {
      n |= static_cast<unsigned char>(bytes[i + 2]);
    }
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

std::optional<BasicCredentials> parseBasic(std::string_view fieldValue, Refusal& refusal,
                                           std::string& scheme) {
  std::string_view value = http::trimOws(fieldValue);
  size_t space = value.find_first_of(" \t");
  std::string_view name = value.substr(0, space);
  if (!http::equalsIgnoreCase(name, "basic")) {
    refusal = name.empty() ? Refusal::NoCredentials : Refusal::UnsupportedScheme;
    // Only a short token followed by credentials is a scheme; a lone word may be the bare
    // base64 of "user:password" (a client that forgot the scheme), which must not be logged.
    const bool plausible = space != std::string_view::npos && name.size() <= 20 &&
                           std::all_of(name.begin(), name.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                           });
    scheme = plausible ? std::string(name) : std::string();
    return std::nullopt;
  }
  std::string_view token =
      space == std::string_view::npos ? std::string_view() : http::trimOws(value.substr(space));
  auto decoded = decodeBase64(token);
  if (!decoded) {
    refusal = Refusal::MalformedBase64;
    return std::nullopt;
  }
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) {
    refusal = Refusal::MissingColon;
    wipe(*decoded);
    return std::nullopt;
  }
  // crypt() and helpers see C strings and lines: a NUL would cut the password short (so
  // "right\0anything" passed), a newline would forge a second helper request.
  if (std::any_of(decoded->begin(), decoded->end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    refusal = Refusal::ControlCharacter;
    wipe(*decoded);
    return std::nullopt;
  }
  refusal = Refusal::None;
  BasicCredentials credentials(decoded->substr(0, colon), decoded->substr(colon + 1));
  wipe(*decoded);
  return credentials;
}

} // namespace gatehouse::auth
