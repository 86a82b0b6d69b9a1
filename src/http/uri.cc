#include "gatehouse/http/uri.h"

#include <arpa/inet.h>

#include "gatehouse/http/message.h"

namespace gatehouse::http {

namespace {

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// reg-name characters we accept: unreserved plus "%" (pct-encoded). Sub-delims are legal in
// URIs but never in a DNS name, so they are refused rather than passed to the resolver.
bool isHostChar(char c) {
  return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Characters allowed in a path and query (RFC 3986 pchar, "/" and "?", plus "%").
bool isPathChar(char c) {
  if (isAlnum(c)) {
    return true;
  }
  switch (c) {
  case '-':
  case '.':
  case '_':
  case '~':
  case '%':
  case '!':
  case '$':
  case '&':
  case '\'':
  case '(':
  case ')':
  case '*':
  case '+':
  case ',':
  case ';':
  case '=':
  case ':':
  case '@':
  case '/':
  case '?':
  // Often sent unencoded by real clients; harmless to forward as received.
  case '[':
  case ']':
  case '|':
  case '{':
  case '}':
  case '^':
  case '`':
  case '"':
    return true;
  default:
    return false;
  }
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + 32);
    }
  }
  return out;
}

// Parses "host[:port]" where the port may be required. The default port applies otherwise.
std::optional<Authority> parseHostPort(std::string_view text, bool portRequired,
                                       uint16_t defaultPort, std::string& error) {
  Authority out;
  if (text.empty()) {
    error = "empty authority";
    return std::nullopt;
  }
  if (text.find('@') != std::string_view::npos) {
    error = "userinfo (user@) is not allowed in the target";
    return std::nullopt;
  }
  std::string_view host;
  std::string_view rest;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 literal";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      error = "invalid IPv6 literal";
      return std::nullopt;
    }
    out.ipv6 = true;
  } else {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
    for (char c : host) {
      if (!isHostChar(c)) {
        error = "invalid character in host";
        return std::nullopt;
      }
    }
  }
  if (host.empty()) {
    error = "empty host";
    return std::nullopt;
  }
  out.host = toLower(host);
  if (rest.empty()) {
    if (portRequired) {
      error = "port missing (expected host:port)";
      return std::nullopt;
    }
    out.port = defaultPort;
    return out;
  }
  if (rest.front() != ':') {
    error = "unexpected characters after host";
    return std::nullopt;
  }
  rest.remove_prefix(1);
  if (rest.empty()) {
    if (portRequired) {
      error = "port missing (expected host:port)";
      return std::nullopt;
    }
    out.port = defaultPort; // "host:" is allowed by RFC 3986 and means the default port
    return out;
  }
  if (rest.size() > 5) {
    error = "invalid port";
    return std::nullopt;
  }
  unsigned port = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') {
      error = "invalid port";
      return std::nullopt;
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port == 0 || port > 65535) {
    error = "port out of range";
    return std::nullopt;
  }
  out.port = static_cast<uint16_t>(port);
  out.explicitPort = true;
  return out;
}

} // namespace

std::string AbsoluteUri::hostHeader() const {
  uint16_t defaultPort = scheme == "https" ? 443 : 80;
  if (authority.port == defaultPort) {
    return authority.hostLiteral();
  }
  return authority.hostPort();
}

TargetForm classifyTarget(std::string_view target) {
  if (target.empty()) {
    return TargetForm::Invalid;
  }
  if (target == "*") {
    return TargetForm::Asterisk;
  }
  if (target.front() == '/') {
    return TargetForm::Origin;
  }
  size_t colonSlashSlash = target.find("://");
  if (colonSlashSlash != std::string_view::npos && colonSlashSlash > 0) {
    bool schemeOk = true;
    for (char c : target.substr(0, colonSlashSlash)) {
      schemeOk = schemeOk && (isAlnum(c) || c == '+' || c == '-' || c == '.');
    }
    if (schemeOk) {
      return TargetForm::Absolute;
    }
  }
  return TargetForm::Authority;
}

std::optional<Authority> parseAuthorityForm(std::string_view target, std::string& error) {
  return parseHostPort(target, true, 0, error);
}

std::optional<AbsoluteUri> parseAbsoluteUri(std::string_view target, std::string& error) {
  AbsoluteUri out;
  size_t sep = target.find("://");
  if (sep == std::string_view::npos) {
    error = "not an absolute URI";
    return std::nullopt;
  }
  out.scheme = toLower(target.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    error = "unsupported scheme \"" + out.scheme + "\"";
    return std::nullopt;
  }
  std::string_view rest = target.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authorityText = rest.substr(0, end);
  std::string_view pathPart = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  auto authority = parseHostPort(authorityText, false, out.scheme == "https" ? 443 : 80, error);
  if (!authority) {
    return std::nullopt;
  }
  out.authority = *authority;
  // A fragment is never sent on the wire; drop it if a client did.
  size_t hash = pathPart.find('#');
  if (hash != std::string_view::npos) {
    pathPart = pathPart.substr(0, hash);
  }
  for (char c : pathPart) {
    if (!isPathChar(c)) {
      error = "invalid character in path";
      return std::nullopt;
    }
  }
  if (pathPart.empty() || pathPart.front() == '?') {
    out.originForm = "/" + std::string(pathPart);
  } else {
    out.originForm = std::string(pathPart);
  }
  return out;
}

std::string withoutUserinfo(std::string_view target) {
  size_t scheme = target.find("://");
  if (scheme == std::string_view::npos) {
    return std::string(target);
  }
  size_t start = scheme + 3;
  size_t end = target.find_first_of("/?#", start);
  std::string_view authority =
      target.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    return std::string(target);
  }
  return std::string(target.substr(0, start)) + "***" + std::string(target.substr(start + at));
}

} // namespace gatehouse::http
