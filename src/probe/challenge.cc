// Challenge grammar (RFC 9110 section 11.2-11.3):
//   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//   auth-param = token BWS "=" BWS ( token / quoted-string )
//   token68    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// Commas separate both challenges and parameters, so a list element starting with
// "token SP" opens a new challenge and one starting with "token BWS =" continues the last.

#include "gatehouse/probe/challenge.h"

#include <cctype>
#include <cstdio>
#include <openssl/evp.h>

#include "gatehouse/http/message.h"

namespace gatehouse::probe {

using http::equalsIgnoreCase;

namespace {

bool isTchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) {
    return true;
  }
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return true;
  default:
    return false;
  }
}

bool isToken68Char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/';
}

// A cursor over one field value.
struct Cursor {
  std::string_view s;
  size_t pos = 0;
  bool atEnd() const { return pos >= s.size(); }
  char peek() const { return atEnd() ? '\0' : s[pos]; }
  void skipSpaces() {
    while (!atEnd() && (s[pos] == ' ' || s[pos] == '\t')) {
      ++pos;
    }
  }
  std::string_view token() {
    size_t start = pos;
    while (!atEnd() && isTchar(s[pos])) {
      ++pos;
    }
    return s.substr(start, pos - start);
  }
  // Moves past the next comma outside a quoted-string (or to the end).
  void skipElement() {
    bool inQuotes = false;
    while (!atEnd()) {
      char c = s[pos++];
      if (inQuotes && c == '\\' && !atEnd()) {
        ++pos;
      } else if (c == '"') {
        inQuotes = !inQuotes;
      } else if (c == ',' && !inQuotes) {
        return;
      }
    }
  }
};

std::string printable(char c) {
  char buf[8];
  if (c >= 0x21 && c <= 0x7e) {
    std::snprintf(buf, sizeof buf, "'%c'", c);
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(c));
  }
  return buf;
}

// Reads a quoted-string at the cursor (which is on the opening quote). False if unterminated.
bool readQuoted(Cursor& cur, std::string& value) {
  ++cur.pos;
  while (!cur.atEnd()) {
    char c = cur.s[cur.pos++];
    if (c == '"') {
      return true;
    }
    if (c == '\\' && !cur.atEnd()) {
      c = cur.s[cur.pos++];
    }
    value.push_back(c);
  }
  return false;
}

// After a parameter's value: optional whitespace, then a comma or the end.
void expectElementEnd(Cursor& cur, ChallengeList& out, std::string_view what) {
  cur.skipSpaces();
  if (cur.atEnd()) {
    return;
  }
  if (cur.peek() == ',') {
    ++cur.pos;
    return;
  }
  out.problems.push_back("unexpected " + printable(cur.peek()) + " after " + std::string(what) +
                         " at offset " + std::to_string(cur.pos));
  cur.skipElement();
}

// Reads "name BWS = BWS value" at the cursor into `challenge`; the name is already read.
void readParamValue(Cursor& cur, std::string_view name, Challenge& challenge, ChallengeList& out) {
  cur.skipSpaces();
  ++cur.pos; // '='
  cur.skipSpaces();
  AuthParam param{std::string(name), "", false};
  if (cur.peek() == '"') {
    param.quoted = true;
    if (!readQuoted(cur, param.value)) {
      out.problems.push_back("unterminated quoted-string in parameter " + param.name);
    }
  } else {
    param.value = std::string(cur.token());
    if (param.value.empty()) {
      out.problems.push_back("parameter " + param.name + " has no value");
    }
  }
  if (challenge.param(param.name) != nullptr) {
    out.problems.push_back("parameter " + param.name + " repeated in the " + challenge.scheme +
                           " challenge (RFC 9110 11.2: each name only once)");
  }
  challenge.params.push_back(std::move(param));
  expectElementEnd(cur, out, "parameter " + std::string(name));
}

// True when the cursor is at "token BWS = BWS (token | quoted-string)" (a parameter, not a
// token68 that merely ends in '=').
bool looksLikeParam(Cursor cur) {
  if (cur.token().empty()) {
    return false;
  }
  cur.skipSpaces();
  if (cur.peek() != '=') {
    return false;
  }
  ++cur.pos;
  cur.skipSpaces();
  return cur.peek() == '"' || isTchar(cur.peek());
}

constexpr struct {
  uint32_t bit;
  const char* name;
} kNtlmFlags[] = {
    {0x00000001, "UNICODE"},
    {0x00000002, "OEM"},
    {0x00000004, "REQUEST_TARGET"},
    {0x00000010, "SIGN"},
    {0x00000020, "SEAL"},
    {0x00000040, "DATAGRAM"},
    {0x00000080, "LM_KEY"},
    {0x00000200, "NTLM"},
    {0x00000800, "ANONYMOUS"},
    {0x00001000, "OEM_DOMAIN_SUPPLIED"},
    {0x00002000, "OEM_WORKSTATION_SUPPLIED"},
    {0x00008000, "ALWAYS_SIGN"},
    {0x00010000, "TARGET_TYPE_DOMAIN"},
    {0x00020000, "TARGET_TYPE_SERVER"},
    {0x00080000, "EXTENDED_SESSIONSECURITY"},
    {0x00100000, "IDENTIFY"},
    {0x00400000, "REQUEST_NON_NT_SESSION_KEY"},
    {0x00800000, "TARGET_INFO"},
    {0x02000000, "VERSION"},
    {0x20000000, "128"},
    {0x40000000, "KEY_EXCH"},
    {0x80000000, "56"},
};

uint32_t readLe32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24;
}
uint16_t readLe16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) |
                               static_cast<unsigned char>(b[at + 1]) << 8);
}

const char* ntlmTypeName(int type) {
  switch (type) {
  case 1:
    return "negotiate";
  case 2:
    return "challenge";
  case 3:
    return "authenticate";
  default:
    return "unknown";
  }
}

std::string describeNtlm(const NtlmMessage& m) {
  if (m.type == 0) {
    return "unreadable NTLM message: " + m.error;
  }
  std::string text = "NTLM type " + std::to_string(m.type) + " (" + ntlmTypeName(m.type) + ")";
  if (m.type == 2 && !m.targetName.empty()) {
    text += ", target \"" + m.targetName + "\"";
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", m.flags);
  text += std::string(", flags ") + hex;
  if (!m.flagNames.empty()) {
    text += " (";
    for (size_t i = 0; i < m.flagNames.size(); ++i) {
      text += (i ? " " : "") + m.flagNames[i];
    }
    text += ")";
  }
  return text;
}

// Object identifiers as DER bytes (tag 06, length, value) that SPNEGO tokens carry.
constexpr std::string_view kOidSpnego{"\x06\x06\x2b\x06\x01\x05\x05\x02", 8};
constexpr std::string_view kOidKerberos{"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 11};
constexpr std::string_view kOidMsKerberos{"\x06\x09\x2a\x86\x48\x82\xf7\x12\x01\x02\x02", 11};
constexpr std::string_view kOidNtlm{"\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 12};

std::string describeSpnego(std::string_view bytes) {
  if (bytes.empty()) {
    return "empty token";
  }
  size_t ntlmAt = bytes.find(std::string_view("NTLMSSP\0", 8));
  if (ntlmAt == 0) {
    return "raw " + describeNtlm(decodeNtlm(bytes)) + " (NTLM sent under the Negotiate name)";
  }
  std::string text;
  unsigned char first = static_cast<unsigned char>(bytes[0]);
  if (first == 0x60) {
    text = "GSS-API initial token";
  } else if (first == 0xa0) {
    text = "SPNEGO NegTokenInit";
  } else if (first == 0xa1) {
    text = "SPNEGO NegTokenResp";
    // negState: [0] ENUMERATED, encoded a0 03 0a 01 <state>.
    size_t at = bytes.find(std::string_view("\xa0\x03\x0a\x01", 4));
    if (at != std::string_view::npos && at + 4 < bytes.size()) {
      static const char* kStates[] = {"accept-completed", "accept-incomplete", "reject",
                                      "request-mic"};
      unsigned state = static_cast<unsigned char>(bytes[at + 4]);
      text += std::string(", negState ") + (state < 4 ? kStates[state] : "unknown");
    }
  } else {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", first);
    return std::string("not a GSS-API/SPNEGO token (first byte ") + hex + ")";
  }
  std::vector<std::string> mechs;
  if (bytes.find(kOidSpnego) != std::string_view::npos) {
    mechs.push_back("SPNEGO");
  }
  if (bytes.find(kOidKerberos) != std::string_view::npos ||
      bytes.find(kOidMsKerberos) != std::string_view::npos) {
    mechs.push_back("Kerberos");
  }
  if (bytes.find(kOidNtlm) != std::string_view::npos) {
    mechs.push_back("NTLM");
  }
  if (!mechs.empty()) {
    text += ", mechanisms";
    for (const auto& m : mechs) {
      text += " " + m;
    }
  }
  if (ntlmAt != std::string_view::npos) {
    text += "; inner " + describeNtlm(decodeNtlm(bytes.substr(ntlmAt)));
  }
  return text;
}

} // namespace

const AuthParam* Challenge::param(std::string_view name) const {
  for (const AuthParam& p : params) {
    if (equalsIgnoreCase(p.name, name)) {
      return &p;
    }
  }
  return nullptr;
}

bool Challenge::is(std::string_view name) const {
  return equalsIgnoreCase(scheme, name);
}

void parseChallenges(std::string_view fieldValue, ChallengeList& out) {
  Cursor cur{fieldValue};
  Challenge* current = nullptr;
  if (http::trimOws(fieldValue).empty()) {
    out.problems.push_back("empty challenge field");
    return;
  }
  while (true) {
    // Empty list elements (",,") are allowed and skipped (RFC 9110 5.6.1).
    cur.skipSpaces();
    while (cur.peek() == ',') {
      ++cur.pos;
      cur.skipSpaces();
    }
    if (cur.atEnd()) {
      break;
    }
    size_t start = cur.pos;
    std::string_view name = cur.token();
    if (name.empty()) {
      out.problems.push_back("unexpected " + printable(cur.peek()) + " at offset " +
                             std::to_string(start) + " where a scheme or parameter was expected");
      cur.skipElement();
      continue;
    }
    Cursor probe = cur;
    probe.skipSpaces();
    if (probe.peek() == '=') {
      // "name=value": a parameter of the current challenge.
      if (current == nullptr) {
        out.problems.push_back("parameter " + std::string(name) + " before any scheme");
        Challenge orphan;
        readParamValue(cur, name, orphan, out);
        continue;
      }
      readParamValue(cur, name, *current, out);
      continue;
    }
    // A new challenge.
    out.challenges.push_back(Challenge{std::string(name), "", {}});
    current = &out.challenges.back();
    if (cur.atEnd() || cur.peek() == ',') {
      if (!cur.atEnd()) {
        ++cur.pos;
      }
      continue;
    }
    if (cur.peek() != ' ') {
      out.problems.push_back("unexpected " + printable(cur.peek()) + " after scheme " +
                             current->scheme);
      cur.skipElement();
      continue;
    }
    cur.skipSpaces();
    if (cur.atEnd() || cur.peek() == ',') {
      continue;
    }
    if (looksLikeParam(cur)) {
      std::string_view first = cur.token();
      readParamValue(cur, first, *current, out);
      continue;
    }
    // token68
    size_t t68 = cur.pos;
    while (!cur.atEnd() && isToken68Char(cur.peek())) {
      ++cur.pos;
    }
    while (!cur.atEnd() && cur.peek() == '=') {
      ++cur.pos;
    }
    if (cur.pos == t68) {
      out.problems.push_back("unexpected " + printable(cur.peek()) + " after scheme " +
                             current->scheme);
      cur.skipElement();
      continue;
    }
    current->token68 = std::string(fieldValue.substr(t68, cur.pos - t68));
    expectElementEnd(cur, out, "the " + current->scheme + " token");
  }
}

NtlmMessage decodeNtlm(std::string_view b) {
  NtlmMessage m;
  if (b.size() < 12 || b.substr(0, 8) != std::string_view("NTLMSSP\0", 8)) {
    m.error = "no NTLMSSP signature";
    return m;
  }
  uint32_t type = readLe32(b, 8);
  size_t flagsAt = type == 1 ? 12 : type == 2 ? 20 : type == 3 ? 60 : 0;
  if (flagsAt == 0) {
    m.error = "message type " + std::to_string(type) + " is not 1, 2 or 3";
    return m;
  }
  if (b.size() < flagsAt + 4) {
    m.error = "type " + std::to_string(type) + " message truncated (" + std::to_string(b.size()) +
              " bytes)";
    return m;
  }
  m.type = static_cast<int>(type);
  m.flags = readLe32(b, flagsAt);
  for (const auto& f : kNtlmFlags) {
    if (m.flags & f.bit) {
      m.flagNames.emplace_back(f.name);
    }
  }
  if (type == 2) {
    // TargetNameFields: length (2), max length (2), offset (4) at 12.
    size_t len = readLe16(b, 12);
    size_t off = readLe32(b, 16);
    if (len > 0 && off <= b.size() && len <= b.size() - off && len <= 512) {
      std::string_view raw = b.substr(off, len);
      bool unicode = (m.flags & 0x1) != 0;
      std::string name;
      for (size_t i = 0; i < raw.size(); i += unicode ? 2 : 1) {
        unsigned char c = static_cast<unsigned char>(raw[i]);
        bool high = unicode && i + 1 < raw.size() && raw[i + 1] != 0;
        name.push_back(c >= 0x20 && c < 0x7f && !high ? static_cast<char>(c) : '?');
      }
      m.targetName = name;
    }
  }
  return m;
}

std::optional<std::string> decodeBase64(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c == '=') {
      break;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return std::nullopt;
    }
    clean.push_back(c);
  }
  if (clean.size() % 4 == 1) {
    return std::nullopt;
  }
  size_t pad = (4 - clean.size() % 4) % 4;
  clean.append(pad, '=');
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) {
    return std::nullopt;
  }
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string encodeBase64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string describeToken(const Challenge& c) {
  if (c.token68.empty()) {
    return "";
  }
  std::optional<std::string> bytes = decodeBase64(c.token68);
  if (!bytes) {
    return "token is not base64";
  }
  if (c.is("NTLM")) {
    return describeNtlm(decodeNtlm(*bytes));
  }
  if (c.is("Negotiate") || c.is("Kerberos")) {
    return describeSpnego(*bytes);
  }
  return std::to_string(bytes->size()) + "-byte token";
}

bool isConnectionBound(const Challenge& c) {
  return c.is("NTLM") || c.is("Negotiate") || c.is("Kerberos");
}

std::vector<std::string> challengeViolations(const Challenge& c) {
  std::vector<std::string> v;
  const AuthParam* realm = c.param("realm");
  if (realm != nullptr && !realm->quoted) {
    v.push_back(c.scheme + " realm is a bare token, not a quoted-string (RFC 9110 11.5: " +
                "senders MUST quote it; some clients then show or match it differently)");
  }
  if (const AuthParam* charset = c.param("charset")) {
    if (!equalsIgnoreCase(charset->value, "UTF-8")) {
      v.push_back(c.scheme + " charset=\"" + charset->value +
                  "\": RFC 7617 allows only \"UTF-8\"; clients ignore it and encode as they "
                  "please");
    }
  }
  if (c.is("Basic")) {
    if (realm == nullptr) {
      v.push_back("Basic challenge without realm (RFC 7617 2: realm is REQUIRED)");
    }
    if (!c.token68.empty()) {
      v.push_back("Basic challenge carries a token68; Basic takes parameters only");
    }
  } else if (c.is("Digest")) {
    if (realm == nullptr) {
      v.push_back("Digest challenge without realm (RFC 7616: REQUIRED)");
    }
    if (c.param("nonce") == nullptr) {
      v.push_back("Digest challenge without nonce (RFC 7616: REQUIRED)");
    }
  } else if (isConnectionBound(c) && !c.params.empty()) {
    v.push_back(c.scheme + " challenge with parameters; it takes a token68 or nothing");
  }
  return v;
}

std::vector<std::string> challengeDetails(const Challenge& c) {
  std::vector<std::string> d;
  for (const AuthParam& p : c.params) {
    d.push_back(p.name + "=" + (p.quoted ? "\"" + p.value + "\"" : p.value));
  }
  if (c.is("Digest")) {
    const AuthParam* algorithm = c.param("algorithm");
    d.push_back("Digest algorithm " +
                (algorithm ? algorithm->value : std::string("MD5 (default)")));
    const AuthParam* qop = c.param("qop");
    d.push_back(qop ? "qop " + qop->value
                    : std::string("no qop: RFC 2069 compatibility mode, no client nonce"));
  }
  if (isConnectionBound(c)) {
    d.push_back(c.token68.empty() ? "no token: the first step of the handshake (client speaks next)"
                                  : describeToken(c));
  } else if (!c.token68.empty()) {
    d.push_back("token68 " + describeToken(c));
  }
  return d;
}

} // namespace gatehouse::probe
