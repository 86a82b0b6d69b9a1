// Proxy URLs, curl's environment rules and PAC results. curl's behaviour is the reference
// (lib/url.c detect_proxy, lib/noproxy.c); where other clients differ, the notes say so.

#include "gatehouse/probe/proxy_selection.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <openssl/crypto.h>

#include "gatehouse/http/message.h"

namespace gatehouse::probe {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<uint16_t> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) {
    return std::nullopt;
  }
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

// An address or CIDR range from no_proxy, in network byte order.
struct IpRange {
  int family = 0;
  unsigned char bytes[16] = {};
  int bits = 0;
};

std::optional<IpRange> parseIpRange(std::string_view text) {
  std::string s(text);
  int bits = -1;
  if (size_t slash = s.find('/'); slash != std::string::npos) {
    std::string b = s.substr(slash + 1);
    if (b.empty() || b.size() > 3 || !std::all_of(b.begin(), b.end(), ::isdigit)) {
      return std::nullopt;
    }
    bits = std::atoi(b.c_str());
    s.resize(slash);
  }
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  IpRange r;
  if (inet_pton(AF_INET, s.c_str(), r.bytes) == 1) {
    r.family = AF_INET;
    r.bits = bits < 0 ? 32 : bits;
    return r.bits <= 32 ? std::optional(r) : std::nullopt;
  }
  if (inet_pton(AF_INET6, s.c_str(), r.bytes) == 1) {
    r.family = AF_INET6;
    r.bits = bits < 0 ? 128 : bits;
    return r.bits <= 128 ? std::optional(r) : std::nullopt;
  }
  return std::nullopt;
}

bool inRange(const IpRange& range, const IpRange& address) {
  if (range.family != address.family) {
    return false;
  }
  int full = range.bits / 8;
  if (std::memcmp(range.bytes, address.bytes, static_cast<size_t>(full)) != 0) {
    return false;
  }
  int rest = range.bits % 8;
  if (rest == 0) {
    return true;
  }
  unsigned mask = (0xffu << (8 - rest)) & 0xffu;
  return (range.bytes[full] & mask) == (address.bytes[full] & mask);
}

std::string maskedProxy(std::string_view text) {
  std::string error;
  if (auto url = parseProxyUrl(text, error)) {
    return url->display() + (url->hasUserInfo ? " (with credentials in the URL)" : "");
  }
  return "an unparsable value";
}

} // namespace

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    OPENSSL_cleanse(value_.data(), value_.size());
    value_ = other.value_;
  }
  return *this;
}

Secret::~Secret() {
  OPENSSL_cleanse(value_.data(), value_.size());
}

std::string ProxyUrl::hostPort() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ProxyUrl::display() const {
  return scheme + "://" + hostPort();
}

std::string percentDecode(std::string_view text, int* bad) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      int hi = i + 2 < text.size() + 0 ? http::hexDigitValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? http::hexDigitValue(text[i + 2]) : -1;
      if (i + 2 < text.size() && hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
      if (bad != nullptr) {
        ++*bad;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::optional<ProxyUrl> parseProxyUrl(std::string_view text, std::string& error) {
  text = http::trimOws(text);
  ProxyUrl url;
  std::string_view rest = text;
  if (size_t sep = text.find("://"); sep != std::string_view::npos) {
    url.scheme = lower(text.substr(0, sep));
    url.schemeGiven = true;
    rest = text.substr(sep + 3);
  }
  static const char* kSchemes[] = {"http", "https", "socks4", "socks4a", "socks5", "socks5h"};
  if (std::find_if(std::begin(kSchemes), std::end(kSchemes),
                   [&](const char* s) { return url.scheme == s; }) == std::end(kSchemes)) {
    error = "unsupported proxy scheme \"" + url.scheme + "\" (http, https, socks4, socks5)";
    return std::nullopt;
  }
  // The authority ends at the first '/', '?' or '#', even inside a password: a raw one cuts
  // the URL there, which is the commonest way credentials break a proxy URL.
  size_t authorityEnd = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authorityEnd);
  std::string_view after =
      authorityEnd == std::string_view::npos ? std::string_view() : rest.substr(authorityEnd);
  if (authority.find('@') == std::string_view::npos && after.find('@') != std::string_view::npos) {
    url.notes.push_back("the user info seems to contain '/', '?' or '#', which end the host "
                        "part: write them as %2F, %3F, %23");
    error = "cannot find the proxy host: a '/', '?' or '#' in the credentials cuts the URL";
    return std::nullopt;
  }
  if (!after.empty() && after != "/") {
    url.notes.push_back("a path after the proxy address is ignored by curl and refused by some "
                        "clients");
  }
  // User info runs to the last '@' (curl, Python, WHATWG); the password starts after the first
  // ':' in it.
  std::string_view hostPart = authority;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    url.hasUserInfo = true;
    std::string_view userInfo = authority.substr(0, at);
    hostPart = authority.substr(at + 1);
    if (userInfo.find('@') != std::string_view::npos) {
      url.notes.push_back("raw '@' in the user info: write it as %40 (curl and Python split at "
                          "the last '@', some parsers at the first)");
    }
    std::string_view rawUser = userInfo;
    if (size_t colon = userInfo.find(':'); colon != std::string_view::npos) {
      rawUser = userInfo.substr(0, colon);
      url.hasPassword = true;
      int bad = 0;
      url.password = Secret(percentDecode(userInfo.substr(colon + 1), &bad));
      if (bad > 0) {
        url.notes.push_back("the password has " + std::to_string(bad) +
                            " '%' not followed by two hex digits: write '%' as %25 (curl "
                            "refuses the URL, Python keeps the '%' as is)");
      }
    }
    int bad = 0;
    url.user = percentDecode(rawUser, &bad);
    if (bad > 0) {
      url.notes.push_back("the user name has a '%' not followed by two hex digits: write '%' as "
                          "%25");
    }
  }
  std::string_view portText;
  if (!hostPart.empty() && hostPart.front() == '[') {
    size_t close = hostPart.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated '[' in the proxy host";
      return std::nullopt;
    }
    url.host = lower(hostPart.substr(1, close - 1));
    url.ipv6 = true;
    std::string_view tail = hostPart.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') {
        error = "unexpected characters after ']' in the proxy host";
        return std::nullopt;
      }
      portText = tail.substr(1);
      url.portGiven = true;
    }
  } else {
    size_t colon = hostPart.rfind(':');
    if (colon != std::string_view::npos) {
      portText = hostPart.substr(colon + 1);
      url.portGiven = true;
      hostPart = hostPart.substr(0, colon);
    }
    url.host = lower(hostPart);
  }
  if (url.host.empty()) {
    error = "no proxy host";
    return std::nullopt;
  }
  for (char c : url.host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
          (url.ipv6 && (c == ':' || c == '%')))) {
      error = "invalid character in the proxy host (a ':' or '@' in the credentials may need "
              "percent-encoding)";
      return std::nullopt;
    }
  }
  if (url.portGiven) {
    auto port = parsePort(portText);
    if (!port) {
      error = "invalid proxy port \"" + std::string(portText) + "\"";
      return std::nullopt;
    }
    url.port = *port;
  } else if (url.scheme == "https") {
    // Without a port clients disagree; curl's defaults are used and the difference noted.
    url.port = 443;
  } else {
    url.port = 1080;
    if (url.scheme == "http") {
      url.notes.push_back("no port: curl uses 1080, Python requests, Node agents and Java 80; "
                          "write the port");
    }
  }
  if (!url.schemeGiven) {
    url.notes.push_back("no scheme: curl assumes http://, Python requests refuses the URL since "
                        "2.27 and Node agents fail; write http://");
  }
  return url;
}

EnvLookup processEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

std::optional<std::string> matchNoProxy(std::string_view list, std::string_view hostIn) {
  std::string host = lower(hostIn);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  while (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  std::optional<IpRange> hostIp = parseIpRange(host);
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find_first_of(", \t", pos);
    if (end == std::string_view::npos) {
      end = list.size();
    }
    std::string entry = lower(list.substr(pos, end - pos));
    pos = end + 1;
    if (entry.empty()) {
      continue;
    }
    if (entry == "*") {
      return entry;
    }
    // IP-literal hosts match only address and CIDR entries; names match only name entries
    // (curl does not resolve names for no_proxy).
    if (hostIp) {
      if (auto range = parseIpRange(entry); range && inRange(*range, *hostIp)) {
        return entry;
      }
      continue;
    }
    std::string name = entry;
    while (!name.empty() && name.front() == '.') {
      name.erase(0, 1);
    }
    while (!name.empty() && name.back() == '.') {
      name.pop_back();
    }
    if (name.empty()) {
      continue;
    }
    if (host == name || (host.size() > name.size() &&
                         host.compare(host.size() - name.size(), name.size(), name) == 0 &&
                         host[host.size() - name.size() - 1] == '.')) {
      return entry;
    }
  }
  return std::nullopt;
}

ProxyChoice chooseProxyFromEnvironment(std::string_view scheme, std::string_view host,
                                       const EnvLookup& env) {
  auto get = [&](const std::string& name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && v->empty()) {
      return std::nullopt;
    }
    return v;
  };
  ProxyChoice choice;
  // no_proxy first: a match means direct whatever the proxy variables say.
  for (const char* name : {"no_proxy", "NO_PROXY"}) {
    if (auto list = get(name)) {
      if (auto entry = matchNoProxy(*list, host)) {
        choice.direct = true;
        choice.decidedBy = name;
        choice.explanation = std::string(name) + " entry \"" + *entry + "\" matches " +
                             std::string(host) + ": no proxy (direct connection)";
        return choice;
      }
      break; // curl reads NO_PROXY only when no_proxy is unset
    }
  }
  std::string specific = lower(scheme) + "_proxy";
  std::vector<std::string> names{specific};
  if (specific != "http_proxy") {
    std::string upper = specific;
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    names.push_back(upper);
  }
  names.emplace_back("all_proxy");
  names.emplace_back("ALL_PROXY");
  for (const std::string& name : names) {
    if (auto value = get(name)) {
      choice.proxy = *value;
      choice.decidedBy = name;
      choice.explanation = name + " = " + maskedProxy(*value);
      return choice;
    }
  }
  choice.direct = true;
  choice.decidedBy = "no variable set";
  choice.explanation = "none of " + specific +
                       (specific == "http_proxy" ? " (curl ignores HTTP_PROXY)" : "") +
                       ", all_proxy is set: direct connection";
  if (specific == "http_proxy" && get("HTTP_PROXY")) {
    choice.explanation += "; HTTP_PROXY is set but curl ignores the upper-case form (Python "
                          "requests and Go use it)";
  }
  return choice;
}

std::vector<PacEntry> parsePacResult(std::string_view result, std::vector<std::string>& problems) {
  std::vector<PacEntry> entries;
  size_t pos = 0;
  while (pos <= result.size()) {
    size_t end = result.find(';', pos);
    if (end == std::string_view::npos) {
      end = result.size();
    }
    std::string_view element = http::trimOws(result.substr(pos, end - pos));
    pos = end + 1;
    if (element.empty()) {
      continue;
    }
    size_t space = element.find_first_of(" \t");
    PacEntry entry;
    std::string kind(element.substr(0, space));
    for (char& c : kind) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    entry.kind = kind;
    if (space != std::string_view::npos) {
      entry.hostPort = std::string(http::trimOws(element.substr(space)));
    }
    if (kind == "DIRECT") {
      if (!entry.hostPort.empty()) {
        problems.push_back("DIRECT followed by \"" + entry.hostPort + "\"");
      }
    } else if (kind == "PROXY" || kind == "HTTPS" || kind == "SOCKS" || kind == "SOCKS4" ||
               kind == "SOCKS5") {
      if (entry.hostPort.empty() || entry.hostPort.find_first_of(" \t") != std::string::npos) {
        problems.push_back(kind + " without a single host:port");
        continue;
      }
    } else {
      problems.push_back("unknown PAC result element \"" + std::string(element) + "\"");
      continue;
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::vector<std::string> checkCredentials(std::string_view user, std::string_view password) {
  std::vector<std::string> findings;
  auto describe = [&](std::string_view what, std::string_view value) {
    findings.push_back(std::string(what) + ": " + std::to_string(value.size()) + " bytes");
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      findings.push_back(std::string(what) + " starts with whitespace (often a copy-paste "
                                             "mistake)");
    }
    if (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\n' ||
                           value.back() == '\r')) {
      findings.push_back(std::string(what) + " ends with whitespace or a line break (often a "
                                             "copy-paste or file-reading mistake)");
    }
    size_t control = 0;
    size_t nonAscii = 0;
    for (char ch : value) {
      unsigned char c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == 0x7f) {
        ++control;
      } else if (c >= 0x80) {
        ++nonAscii;
      }
    }
    if (control > 0) {
      findings.push_back(std::string(what) + " has " + std::to_string(control) +
                         " control character(s)");
    }
    if (nonAscii > 0) {
      // Count UTF-8 characters if the bytes are valid UTF-8 (lead byte gives the length, each
      // continuation byte is 10xxxxxx).
      size_t chars = 0;
      bool valid = true;
      for (size_t i = 0; i < value.size() && valid;) {
        unsigned char c = static_cast<unsigned char>(value[i]);
        size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xe  ? 3
                   : (c >> 3) == 0x1e ? 4
                                      : 0;
        if (n == 0 || i + n > value.size()) {
          valid = false;
          break;
        }
        for (size_t k = 1; k < n; ++k) {
          if ((static_cast<unsigned char>(value[i + k]) >> 6) != 0x2) {
            valid = false;
          }
        }
        i += n;
        ++chars;
      }
      findings.push_back(
          std::string(what) + " has " + std::to_string(nonAscii) + " non-ASCII byte(s), " +
          (valid ? "valid UTF-8 (" + std::to_string(chars) +
                       " characters): sent as UTF-8 bytes by curl, browsers (charset=UTF-8) and "
                       "Python; Java and old clients may send ISO-8859-1 or '?' instead"
                 : std::string("not valid UTF-8 (ISO-8859-1?): a proxy expecting UTF-8 will "
                               "not match it")));
    }
    std::string mustEscape;
    for (char c : std::string_view(":@/?#%[] ")) {
      if (value.find(c) != std::string_view::npos) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
        mustEscape += std::string(mustEscape.empty() ? "" : ", ") + "'" + c + "' as " + buf;
      }
    }
    if (!mustEscape.empty()) {
      findings.push_back(std::string(what) +
                         " has characters that must be percent-encoded in a "
                         "proxy URL (" +
                         mustEscape + "); --proxy-user / -U takes them as they are");
    }
  };
  describe("user name", user);
  if (user.find(':') != std::string_view::npos) {
    findings.push_back("the user name contains ':': Basic cannot carry it (RFC 7617: the first "
                       "':' ends the user-id), the proxy will see a different user");
  }
  describe("password", password);
  if (password.empty()) {
    findings.push_back("the password is empty");
  }
  return findings;
}

} // namespace gatehouse::probe
