// The settings table: every key of the configuration with its help text and how a textual
// value (from the TOML file or a command-line flag) is checked and applied to a Config.

#include <cctype>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "gatehouse/config/config.h"
#include "gatehouse/config/duration.h"
#include "text_values.h"

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

// One element of a helper's command line: the first must be an executable absolute path.
Apply helperArgvSetting(std::vector<std::string> Config::*field) {
  return [field](Config& c, const std::string& v) -> std::optional<std::string> {
    std::vector<std::string>& argv = c.*field;
    if (argv.empty()) {
      if (v.empty() || v.front() != '/') {
        return "the helper program must be an absolute path, got \"" + v + "\"";
      }
      if (::access(v.c_str(), X_OK) != 0) {
        return "the helper program " + v + " is not executable (" + std::strerror(errno) + ")";
      }
    }
    if (v.find_first_of(std::string("\0\n", 2)) != std::string::npos) {
      return std::string("a helper argument cannot contain a newline or NUL");
    }
    argv.push_back(v);
    return std::nullopt;
  };
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
      {"listen",
       "Address to accept clients on, HOST:PORT or [V6]:PORT, optionally followed by "
       "\" proxy_protocol\" (a load balancer in front sends PROXY v1/v2 headers; repeatable)",
       true,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string error;
         if (!parseListener(v, error)) {
           return error;
         }
         c.listen.push_back(v);
         return std::nullopt;
       },
       [](Config& c) { c.listen.clear(); }},
      {"tls_listen", "Address of an HTTPS proxy listener (TLS from clients; repeatable)", true,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         std::string error;
         if (!parseListener(v, error)) {
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
      {"drain_timeout",
       "On SIGTERM, time running requests and tunnels get to finish before the process exits",
       false, durationSetting(&Config::drainTimeoutMs)},
      {"idle_timeout",
       "Idle time after which keep-alive connections and tunnels close, and a client that takes no "
       "response byte is cut",
       false, durationSetting(&Config::idleTimeoutMs)},
      {"request_head_timeout", "Time a client has to send a complete request head", false,
       durationSetting(&Config::requestHeadTimeoutMs)},
      {"dns_timeout", "Time allowed for a DNS lookup", false,
       durationSetting(&Config::dnsTimeoutMs)},
      {"dns_cache_size",
       "Host names with addresses each worker remembers (and a quarter as many that do not "
       "resolve); the least recently used go",
       false, countSetting(&Config::dnsCacheSize, 0, 1'000'000)},
      {"dns_negative_ttl", "How long a name that does not resolve is remembered (0s: not at all)",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         // 0 is allowed here (no negative caching); RFC 2308 suggests at most hours.
         auto ms = parseDurationMs(v);
         if (!ms || *ms > 3'600'000) {
           return "invalid duration \"" + v + "\" (0s to 1h, e.g. 5s)";
         }
         c.dnsNegativeTtlMs = *ms;
         return std::nullopt;
       }},
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
      {"auth_max_failures", "Wrong passwords per user and client address before 429", false,
       countSetting(&Config::authMaxFailures, 1, 1'000'000)},
      {"auth_failure_window", "Window in which auth_max_failures are counted", false,
       durationSetting(&Config::authFailureWindowMs)},
      {"auth_max_pending_checks",
       "Password hash checks queued on the thread pool per worker (503 past it)", false,
       countSetting(&Config::authMaxPendingChecks, 1, 100'000)},
      {"auth_helper",
       "Squid basic auth helper instead of auth_file: program (absolute path) and arguments, "
       "e.g. [\"/usr/lib/squid/basic_ncsa_auth\", \"/etc/gatehouse/users\"]",
       true, helperArgvSetting(&Config::authHelper), [](Config& c) { c.authHelper.clear(); }},
      {"auth_helper_children", "Auth helper processes per worker, started on demand", false,
       countSetting(&Config::authHelperChildren, 1, 100)},
      {"auth_helper_concurrency",
       "Requests in flight per auth helper with channel IDs (0: one at a time, no IDs)", false,
       countSetting(&Config::authHelperConcurrency, 0, 1000)},
      {"auth_helper_queue", "Checks waiting for a free auth helper before 503", false,
       countSetting(&Config::authHelperQueue, 1, 100'000)},
      {"auth_helper_timeout", "Longest wait for a helper's answer (then 503, helper restarted)",
       false, durationSetting(&Config::authHelperTimeoutMs)},
      {"auth_negative_ttl", "How long an auth helper's ERR (wrong password) is remembered", false,
       durationSetting(&Config::authNegativeTtlMs)},
      {"group_file", "htgroup file (\"group: user1 user2\") for policy group conditions", false,
       pathSetting(&Config::groupFile)},
      {"group_helper",
       "Squid external ACL group helper (\"user group\" -> OK/ERR): program and arguments, "
       "e.g. [\"/usr/lib/squid/ext_ldap_group_acl\", \"-b\", ...]",
       true, helperArgvSetting(&Config::groupHelper), [](Config& c) { c.groupHelper.clear(); }},
      {"group_helper_children", "Group helper processes per worker", false,
       countSetting(&Config::groupHelperChildren, 1, 100)},
      {"group_helper_concurrency", "Requests in flight per group helper (0: no channel IDs)", false,
       countSetting(&Config::groupHelperConcurrency, 0, 1000)},
      {"group_cache_ttl", "How long a group helper's OK (member) is remembered", false,
       durationSetting(&Config::groupCacheTtlMs)},
      {"group_negative_ttl", "How long a group helper's ERR (not a member) is remembered", false,
       durationSetting(&Config::groupNegativeTtlMs)},
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
      {"default_action", "What happens when no [[rule]] matches: allow or deny", false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v != "allow" && v != "deny") {
           return "invalid action \"" + v + "\" (allow or deny)";
         }
         c.defaultAction = v == "allow" ? RuleAction::Allow : RuleAction::Deny;
         return std::nullopt;
       }},
      {"upstream_proxy", "Send everything through this [[parent]] (a rule's via overrides it)",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty()) {
           return std::string("empty parent name");
         }
         c.upstreamProxy = v == "direct" ? "" : v;
         return std::nullopt;
       }},
      {"ssrf_guard",
       "Refuse loopback, private, link-local and other non-global destination addresses "
       "(true, false, or auto: on unless every listener is loopback and there is no auth)",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v == "auto") {
           c.ssrfGuard.reset();
         } else if (v == "true" || v == "false") {
           c.ssrfGuard = v == "true";
         } else {
           return "invalid value \"" + v + "\" (true, false or auto)";
         }
         return std::nullopt;
       }},
      {"allow_open_proxy",
       "Start even with a non-loopback listener, no authentication and no client restriction",
       false, boolSetting(&Config::allowOpenProxy)},
      {"forwarded_for", "Tell origins the client's address: off, x-forwarded-for or forwarded",
       false,
       [](Config& c, const std::string& v) -> std::optional<std::string> {
         if (v == "off") {
           c.forwardedFor = ForwardedFor::Off;
         } else if (v == "x-forwarded-for") {
           c.forwardedFor = ForwardedFor::XForwardedFor;
         } else if (v == "forwarded") {
           c.forwardedFor = ForwardedFor::Forwarded;
         } else {
           return "invalid value \"" + v + "\" (off, x-forwarded-for or forwarded)";
         }
         return std::nullopt;
       }},
  };
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

} // namespace gatehouse::config
