#include "gatehouse/config/config.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>
#include <toml++/toml.h>
#include <unistd.h>

#include "gatehouse/config/duration.h"

namespace gatehouse::config {

namespace {

using Apply = std::function<std::optional<std::string>(Config&, const std::string&)>;

Apply durationSetting(uint64_t Config::*field) {
  return [field](Config& c, const std::string& v) -> std::optional<std::string> {
    auto ms = parseDurationMs(v);
    if (!ms || *ms == 0) {
      return "invalid duration \"" + v + "\" (use a number with ms, s, m or h, e.g. 500ms, 2s, 5m)";
    }
    c.*field = *ms;
    return std::nullopt;
  };
}

Apply sizeSetting(uint64_t Config::*field, uint64_t min, uint64_t max) {
  return [=](Config& c, const std::string& v) -> std::optional<std::string> {
    auto n = parseSize(v);
    if (!n || *n < min || *n > max) {
      return "invalid size \"" + v + "\" (between " + std::to_string(min) + " and " +
             std::to_string(max) + "; units KiB, MiB allowed)";
    }
    c.*field = *n;
    return std::nullopt;
  };
}

Apply boolSetting(bool Config::*field) {
  return [field](Config& c, const std::string& v) -> std::optional<std::string> {
    if (v != "true" && v != "false") {
      return "invalid boolean \"" + v + "\" (true or false)";
    }
    c.*field = v == "true";
    return std::nullopt;
  };
}

// A file path; checked when it is opened, where the error can say what went wrong.
Apply pathSetting(std::string Config::*field) {
  return [field](Config& c, const std::string& v) -> std::optional<std::string> {
    if (v.empty()) {
      return std::string("empty path");
    }
    c.*field = v;
    return std::nullopt;
  };
}

// A whole number within [min, max], or nullopt.
std::optional<uint64_t> parseCount(const std::string& v, uint64_t min, uint64_t max) {
  if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  uint64_t n = std::stoull(v);
  if (n < min || n > max) {
    return std::nullopt;
  }
  return n;
}

std::string countError(const std::string& v, uint64_t min, uint64_t max) {
  return "invalid number \"" + v + "\" (between " + std::to_string(min) + " and " +
         std::to_string(max) + ")";
}

Apply countSetting(uint64_t Config::*field, uint64_t min, uint64_t max) {
  return [=](Config& c, const std::string& v) -> std::optional<std::string> {
    auto n = parseCount(v, min, max);
    if (!n) {
      return countError(v, min, max);
    }
    c.*field = *n;
    return std::nullopt;
  };
}

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A pseudonym is a token, optionally followed by ":port" (RFC 9110 received-by).
bool validPseudonym(const std::string& p) {
  if (p.empty() || p.size() > 100) {
    return false;
  }
  size_t colon = p.find(':');
  for (size_t i = 0; i < p.size(); ++i) {
    if (i == colon) {
      continue;
    }
    if (colon != std::string::npos && i > colon ? !(p[i] >= '0' && p[i] <= '9')
                                                : !isTokenChar(p[i])) {
      return false;
    }
  }
  return colon != 0 && colon != p.size() - 1;
}

std::vector<Setting> buildSettings() {
  return {
      {"listen", "Address to accept clients on, HOST:PORT or [V6]:PORT (repeatable)", true,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string error;
         if (!parseListenAddress(v, error)) {
           return error;
         }
         c.listen.push_back(v);
         return std::nullopt;
       },
       [](Config& c) { c.listen.clear(); }},
      {"tls_listen", "Address of an HTTPS proxy listener (TLS from clients; repeatable)", true,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string error;
         if (!parseListenAddress(v, error)) {
           return error;
         }
         c.tlsListen.push_back(v);
         return std::nullopt;
       },
       [](Config& c) { c.tlsListen.clear(); }},
      {"tls_cert", "Certificate chain (PEM) of the HTTPS listener", false,
       pathSetting(&Config::tlsCert)},
      {"tls_key", "Private key (PEM) of the HTTPS listener", false, pathSetting(&Config::tlsKey)},
      {"tls_client_ca", "CA (PEM) for client certificates on the HTTPS listener (495/496)", false,
       pathSetting(&Config::tlsClientCa)},
      {"tls_client_cert_auth",
       "With tls_client_ca: a verified client certificate authenticates its subject (true/false)",
       false, boolSetting(&Config::tlsClientCertAuth)},
      {"upstream_ca", "CA bundle (PEM) for origins fetched over TLS (default: system store)", false,
       pathSetting(&Config::upstreamCa)},
      {"connect_ports", "Ports CONNECT may reach: list and ranges (443,8443,9000-9100) or *", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string error;
         auto list = PortList::parse(v, error);
         if (!list) {
           return error;
         }
         c.connectPorts = *list;
         return std::nullopt;
       }},
      {"connect_timeout", "Time allowed for a TCP connect to the upstream", false,
       durationSetting(&Config::connectTimeoutMs)},
      {"read_timeout", "Longest silence from the upstream while a response is expected", false,
       durationSetting(&Config::readTimeoutMs)},
      {"response_timeout", "Time from sending a request to a complete response head", false,
       durationSetting(&Config::responseTimeoutMs)},
      {"idle_timeout", "Idle time after which keep-alive connections and tunnels close", false,
       durationSetting(&Config::idleTimeoutMs)},
      {"request_head_timeout", "Time a client has to send a complete request head", false,
       durationSetting(&Config::requestHeadTimeoutMs)},
      {"dns_timeout", "Time allowed for a DNS lookup", false,
       durationSetting(&Config::dnsTimeoutMs)},
      {"dns_servers", "DNS servers as IP[:PORT],... instead of /etc/resolv.conf's", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string rest = v;
         while (!rest.empty()) {
           size_t comma = rest.find(',');
           std::string item = rest.substr(0, comma);
           std::string error;
           // A server is a numeric address with an optional port (default 53).
           bool hasPort =
               item.find("]:") != std::string::npos ||
               (item.find(':') == item.rfind(':') && item.find(':') != std::string::npos);
           if (!parseListenAddress(
                   hasPort
                       ? item
                       : (item.find(':') != std::string::npos ? "[" + item + "]:53" : item + ":53"),
                   error)) {
             return "invalid DNS server \"" + item + "\" (numeric IP with optional :PORT)";
           }
           rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
         }
         if (v.empty()) {
           return std::string("empty DNS server list");
         }
         c.dnsServers = v;
         return std::nullopt;
       }},
      {"log_level", "trace, debug, info, warn or error", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
           if (v == level) {
             c.logLevel = v;
             return std::nullopt;
           }
         }
         return "invalid log level \"" + v + "\" (trace, debug, info, warn or error)";
       }},
      {"access_log", "Access log file, - for stderr, off for none", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty()) {
           return std::string("empty access log path (use - for stderr or off)");
         }
         c.accessLog = v;
         return std::nullopt;
       }},
      {"workers", "Event loops, each with its own listening socket (0: one per core)", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         auto n = parseCount(v, 0, 256);
         if (!n) {
           return countError(v, 0, 256);
         }
         c.workers = static_cast<unsigned>(*n);
         return std::nullopt;
       }},
      {"pseudonym", "Name of this proxy in Via and Proxy-Status (default: host name and port)",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (!validPseudonym(v)) {
           return "invalid pseudonym \"" + v + "\" (a token, optionally with :port)";
         }
         c.pseudonym = v;
         return std::nullopt;
       }},
      {"status_mode", "proxy (598/599 as is) or rfc (598/599 sent as 504)", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v == "proxy") {
           c.statusMode = errors::StatusMode::Proxy;
         } else if (v == "rfc") {
           c.statusMode = errors::StatusMode::Rfc;
         } else {
           return "invalid status mode \"" + v + "\" (proxy or rfc)";
         }
         return std::nullopt;
       }},
      {"splice",
       "Move bulk bytes (tunnels, Content-Length response bodies) with splice(2) inside the "
       "kernel instead of copying them through the proxy (true or false)",
       false, boolSetting(&Config::splice)},
      {"allow_trace", "Answer TRACE at Max-Forwards 0 instead of 405 (true or false)", false,
       boolSetting(&Config::allowTrace)},
      {"auth_file", "htpasswd file: every request and CONNECT must authenticate (Basic)", false,
       pathSetting(&Config::authFile)},
      {"realm", "Realm named in Proxy-Authenticate", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty() || v.size() > 200 || v.find_first_of("\"\\\r\n\t") != std::string::npos) {
           return "invalid realm \"" + v + "\" (1-200 characters, no quotes or backslashes)";
         }
         for (unsigned char ch : v) {
           if (ch < 0x20 || ch == 0x7f) {
             return std::string("invalid realm: control character");
           }
         }
         c.realm = v;
         return std::nullopt;
       }},
      {"auth_plaintext", "Accept plain-text passwords in the auth file (true or false)", false,
       boolSetting(&Config::authPlaintext)},
      {"auth_cache_ttl", "How long a verified user and password is remembered", false,
       durationSetting(&Config::authCacheTtlMs)},
      {"auth_max_failures", "Wrong passwords per client address before 429", false,
       countSetting(&Config::authMaxFailures, 1, 1'000'000)},
      {"auth_failure_window", "Window in which auth_max_failures are counted", false,
       durationSetting(&Config::authFailureWindowMs)},
      {"max_head_size", "Largest request head accepted (431 past it)", false,
       sizeSetting(&Config::maxHeadSize, 1024, 1024 * 1024)},
      {"max_header_fields", "Most header fields in a request (431 past it)", false,
       countSetting(&Config::maxHeaderFields, 1, 10'000)},
      {"max_target_length", "Longest request target accepted (414 past it)", false,
       sizeSetting(&Config::maxTargetLength, 64, 1024 * 1024)},
      {"max_connections", "Most client connections at once (503 past it)", false,
       countSetting(&Config::maxConnections, 1, 1'000'000)},
      // ---- operations: log format, log limits, admin listener, PAC file ----
      {"access_log_format", "Access log format: gatehouse, squid, common (NCSA combined) or json",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v != "gatehouse" && v != "squid" && v != "common" && v != "json") {
           return "invalid access log format \"" + v + "\" (gatehouse, squid, common or json)";
         }
         c.accessLogFormat = v;
         return std::nullopt;
       }},
      {"refused_log_lines",
       "Diagnostic lines for refused requests per client address per refused_log_window (the "
       "rest is summarised as \"suppressed N similar lines\")",
       false, countSetting(&Config::refusedLogLines, 1, 1'000'000)},
      {"refused_log_window", "Window of refused_log_lines", false,
       durationSetting(&Config::refusedLogWindowMs)},
      {"admin_listen",
       "Admin listener HOST:PORT (/healthz, /readyz, /metrics, /proxy.pac, live view at /); off "
       "when unset. Keep it on loopback or set admin_auth_file",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string error;
         if (!parseListenAddress(v, error)) {
           return error;
         }
         c.adminListen = v;
         return std::nullopt;
       }},
      {"admin_auth_file", "htpasswd file of the users allowed on the admin listener (Basic)", false,
       pathSetting(&Config::adminAuthFile)},
      {"pac_proxy", "HOST:PORT of the proxy as clients reach it, for /proxy.pac", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         size_t colon = v.rfind(':');
         if (v.empty() || colon == std::string::npos || colon == 0 || colon + 1 == v.size() ||
             v.find_first_of(" \t\"\\;'") != std::string::npos ||
             v.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
           return "invalid PAC proxy \"" + v + "\" (HOST:PORT)";
         }
         c.pacProxy = v;
         return std::nullopt;
       }},
      {"pac_direct_domains", "Domain whose hosts (and subdomains) bypass the proxy in /proxy.pac",
       true,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string d = !v.empty() && v.front() == '.' ? v.substr(1) : v;
         if (d.empty() || d.size() > 253 ||
             d.find_first_not_of(
                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
                 std::string::npos) {
           return "invalid domain \"" + v + "\" (letters, digits, dots and dashes)";
         }
         for (char& ch : d) {
           ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
         }
         c.pacDirectDomains.push_back(d); // PAC compares lower-cased host names
         return std::nullopt;
       },
       [](Config& c) { c.pacDirectDomains.clear(); }},
      {"pac_direct_cidrs", "IPv4 network (A.B.C.D/N) that bypasses the proxy in /proxy.pac", true,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         size_t slash = v.find('/');
         uv::SocketAddress address;
         auto bits =
             slash == std::string::npos ? std::nullopt : parseCount(v.substr(slash + 1), 0, 32);
         if (!bits || !uv::SocketAddress::fromNumeric(v.substr(0, slash), 0, address) ||
             v.find(':') != std::string::npos) {
           return "invalid network \"" + v + "\" (IPv4 A.B.C.D/N)";
         }
         c.pacDirectCidrs.push_back(v);
         return std::nullopt;
       },
       [](Config& c) { c.pacDirectCidrs.clear(); }},
  };
}

// A TOML scalar as the text a flag would carry; nullopt for tables and arrays.
std::optional<std::string> scalarText(const toml::node& node) {
  if (auto s = node.as_string()) {
    return s->get();
  }
  if (auto i = node.as_integer()) {
    return std::to_string(i->get());
  }
  if (auto b = node.as_boolean()) {
    return b->get() ? "true" : "false";
  }
  return std::nullopt;
}

std::string where(const std::string& name, const toml::node& node) {
  return name + ":" + std::to_string(node.source().begin.line) + ": ";
}

void applyTable(const toml::table& table, const std::string& name, Config& config) {
  for (const auto& [key, node] : table) {
    const Setting* setting = nullptr;
    for (const Setting& s : settings()) {
      if (key.str() == s.key) {
        setting = &s;
      }
    }
    if (setting == nullptr) {
      throw ConfigError(where(name, node) + "unknown key \"" + std::string(key.str()) + "\"");
    }
    const std::string keyName(key.str()); // structured bindings cannot be captured in C++20
    auto applyOne = [&](const toml::node& value) {
      auto text = scalarText(value);
      if (!text) {
        throw ConfigError(where(name, value) + keyName + ": expected a string, number or boolean");
      }
      if (auto error = setting->apply(config, *text)) {
        throw ConfigError(where(name, value) + keyName + ": " + *error);
      }
    };
    if (setting->repeated) {
      setting->clear(config); // the file's list replaces the default
      if (auto array = node.as_array()) {
        if (array->empty()) {
          throw ConfigError(where(name, node) + std::string(key.str()) + ": empty list");
        }
        for (const auto& element : *array) {
          applyOne(element);
        }
        continue;
      }
    }
    applyOne(node);
  }
}

} // namespace

std::string Setting::flag() const {
  std::string f = std::string("--") + key;
  for (char& c : f) {
    c = c == '_' ? '-' : c;
  }
  return f;
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> all = buildSettings();
  return all;
}

void loadString(const std::string& text, const std::string& name, Config& config) {
  toml::table table;
  try {
    table = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(name + ":" + std::to_string(e.source().begin.line) + ": " +
                      std::string(e.description()));
  }
  applyTable(table, name, config);
}

void loadFile(const std::string& path, Config& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path + ": cannot read the configuration file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  loadString(text.str(), path, config);
}

std::optional<uv::SocketAddress> parseListenAddress(const std::string& text, std::string& error) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) {
      error = "invalid listen address \"" + text + "\" (expected [V6]:PORT)";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "invalid listen address \"" + text + "\" (expected HOST:PORT)";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    error = "invalid port in listen address \"" + text + "\"";
    return std::nullopt;
  }
  uv::SocketAddress address;
  if (!uv::SocketAddress::fromNumeric(host, static_cast<uint16_t>(std::stoul(port)), address)) {
    error = "listen address \"" + text + "\" needs a numeric IPv4 or IPv6 host";
    return std::nullopt;
  }
  return address;
}

void validate(const Config& c) {
  if (!c.tlsListen.empty() && (c.tlsCert.empty() || c.tlsKey.empty())) {
    throw ConfigError("tls_listen needs tls_cert and tls_key");
  }
  if (c.tlsClientCertAuth && c.tlsClientCa.empty()) {
    throw ConfigError("tls_client_cert_auth needs tls_client_ca");
  }
  if (c.listen.empty() && c.tlsListen.empty()) {
    throw ConfigError("nothing to listen on: set listen or tls_listen");
  }
  if (!c.adminListen.empty()) {
    std::string error;
    auto admin = parseListenAddress(c.adminListen, error);
    for (const auto& list : {c.listen, c.tlsListen}) {
      for (const std::string& l : list) {
        auto proxy = parseListenAddress(l, error);
        auto wildcard = [](const uv::SocketAddress& a) {
          std::string text = a.toString();
          return text.rfind("0.0.0.0:", 0) == 0 || text.rfind("[::]:", 0) == 0;
        };
        if (admin && proxy && admin->port() != 0 && admin->port() == proxy->port() &&
            (admin->toString() == proxy->toString() || wildcard(*admin) || wildcard(*proxy))) {
          throw ConfigError("admin_listen " + c.adminListen +
                            " is also a proxy listener: give the admin listener its own port");
        }
      }
    }
  }
  if (!c.adminAuthFile.empty() && c.adminListen.empty()) {
    throw ConfigError("admin_auth_file needs admin_listen");
  }
}

std::vector<uv::SocketAddress> Config::tlsListenAddresses() const {
  std::vector<uv::SocketAddress> out;
  for (const std::string& l : tlsListen) {
    std::string error;
    if (auto a = parseListenAddress(l, error)) {
      out.push_back(*a);
    }
  }
  return out;
}

std::vector<uv::SocketAddress> Config::listenAddresses() const {
  std::vector<uv::SocketAddress> out;
  for (const std::string& l : listen) {
    std::string error;
    if (auto a = parseListenAddress(l, error)) {
      out.push_back(*a);
    }
  }
  return out;
}

unsigned Config::effectiveWorkers() const {
  if (workers != 0) {
    return workers;
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

std::string defaultPseudonym(const Config& config) {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) {
    std::snprintf(host, sizeof host, "gatehouse");
  }
  std::string name;
  for (const char* p = host; *p && *p != '.'; ++p) {
    name.push_back(isTokenChar(*p) ? *p : '-');
  }
  auto addresses = config.listenAddresses();
  if (!addresses.empty()) {
    name += ":" + std::to_string(addresses.front().port());
  }
  return name;
}

} // namespace gatehouse::config
