#pragma once
// Which proxy a client would use for a URL: proxy URL parsing (with userinfo), curl's rules
// for http_proxy/https_proxy/all_proxy/no_proxy, the result string of a PAC file's
// FindProxyForURL, and checks on credentials that never reveal them.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::probe {

// A secret string, wiped when destroyed.
class Secret {
public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& other) : value_(other.value_) {}
  Secret& operator=(const Secret& other);
  ~Secret();
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

private:
  std::string value_;
};

// A proxy URL as clients read it: scheme://[user[:password]@]host[:port][/]
struct ProxyUrl {
  std::string scheme = "http"; // lower-case; "http" when the URL had none (curl's default)
  bool schemeGiven = false;
  std::string host; // without brackets
  bool ipv6 = false;
  uint16_t port = 0;
  bool portGiven = false;
  bool hasUserInfo = false;
  std::string user; // percent-decoded
  Secret password;  // percent-decoded
  bool hasPassword = false;
  // Things in the URL that clients read differently (raw '@' in the user info, bad
  // percent-escapes, a path, no port). Never contains the secret.
  std::vector<std::string> notes;

  // "http://host:port" without credentials, for display.
  std::string display() const;
  std::string hostPort() const;
};

// Parses a proxy URL. nullopt with `error` set when it cannot be used at all.
std::optional<ProxyUrl> parseProxyUrl(std::string_view text, std::string& error);

// Decodes %XX escapes; `bad` counts malformed escapes (kept literally).
std::string percentDecode(std::string_view text, int* bad = nullptr);

// Reads an environment variable (injectable for tests); nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup processEnvironment();

// The outcome of choosing a proxy for one target URL.
struct ProxyChoice {
  bool direct = false;     // no proxy
  std::string proxy;       // the proxy URL text as found (may hold credentials: never print)
  std::string decidedBy;   // "--proxy", "https_proxy", "NO_PROXY", "PAC", "no variable set"
  std::string explanation; // one sentence, credentials masked
};

// curl's choice for a target (scheme "http"/"https", host lower-case): no_proxy/NO_PROXY
// first, then <scheme>_proxy (lower case, then upper case except HTTP_PROXY, which curl
// ignores), then all_proxy/ALL_PROXY. Empty values count as unset.
ProxyChoice chooseProxyFromEnvironment(std::string_view scheme, std::string_view host,
                                       const EnvLookup& env);

// curl's no_proxy matching: "*" matches everything; names match the host or any subdomain
// (a leading dot is optional); IP addresses and CIDR ranges match IP-literal hosts. Returns
// the entry that matched, or nullopt.
std::optional<std::string> matchNoProxy(std::string_view list, std::string_view host);

// One element of a FindProxyForURL result ("PROXY host:port", "DIRECT", ...).
struct PacEntry {
  std::string kind;     // "PROXY", "HTTPS", "SOCKS", "SOCKS4", "SOCKS5", "DIRECT", or as found
  std::string hostPort; // empty for DIRECT
};
// Parses "PROXY a:1; HTTPS b:2; DIRECT". Unknown or malformed elements go to `problems`.
std::vector<PacEntry> parsePacResult(std::string_view result, std::vector<std::string>& problems);

// Facts about a user name and password, never the characters themselves except the URL
// delimiters that must be escaped. Each string is one finding.
std::vector<std::string> checkCredentials(std::string_view user, std::string_view password);

} // namespace gatehouse::probe
