#pragma once
// Request-target parsing for a forward proxy: absolute-form (GET http://host/path) and
// authority-form (CONNECT host:port), per RFC 9112 section 3.2.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::http {

// A host and port. `host` is lower-case and, for IPv6, without brackets.
struct Authority {
  std::string host;
  uint16_t port = 0;
  bool ipv6 = false;
  bool explicitPort = false;

  // The host as written in a URI or Host field ("[::1]" for IPv6).
  std::string hostLiteral() const { return ipv6 ? "[" + host + "]" : host; }
  // "host:port" (brackets for IPv6), the pool and log key.
  std::string hostPort() const { return hostLiteral() + ":" + std::to_string(port); }
};

// An absolute-form target split into what a proxy needs.
struct AbsoluteUri {
  std::string scheme; // "http" or "https", lower-case
  Authority authority;
  std::string originForm; // path and query, at least "/"
  // The Host field value for the upstream: the port only when it is not the default one.
  std::string hostHeader() const;
};

// The four request-target forms.
enum class TargetForm { Origin, Absolute, Authority, Asterisk, Invalid };
TargetForm classifyTarget(std::string_view target);
// The target as a log may show it: "scheme://user:pass@host/..." becomes
// "scheme://***@host/..." (RFC 9110 forbids userinfo in http(s) URIs; clients still send it).
std::string withoutUserinfo(std::string_view target);

// Parses "host:port" (port required) as CONNECT needs. On failure returns nullopt and sets
// `error` to a short reason.
std::optional<Authority> parseAuthorityForm(std::string_view target, std::string& error);
// Parses "http://host[:port]/path?query". Rejects userinfo ("user@"), empty hosts, bad ports
// and characters outside the URI grammar.
std::optional<AbsoluteUri> parseAbsoluteUri(std::string_view target, std::string& error);

} // namespace gatehouse::http
