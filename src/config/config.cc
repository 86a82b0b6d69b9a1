#include "gatehouse/config/config.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <openssl/crypto.h>
#include <thread>
#include <toml++/toml.h>
#include <unistd.h>

#include "gatehouse/config/duration.h"
#include "text_values.h"
#include "toml_values.h"

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
      {"idle_timeout", "Idle time after which keep-alive connections and tunnels close", false,
       durationSetting(&Config::idleTimeoutMs)},
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

// A string, or an array of strings, each with its line. Throws for other types.
std::vector<LocatedString> stringList(const toml::node& node, const std::string& name,
                                      const std::string& key) {
  std::vector<LocatedString> out;
  auto one = [&](const toml::node& value) {
    auto s = value.as_string();
    if (s == nullptr || s->get().empty()) {
      throw ConfigError(where(name, value) + key + ": expected a non-empty string");
    }
    out.push_back({s->get(), locate(name, value)});
  };
  if (auto array = node.as_array()) {
    if (array->empty()) {
      throw ConfigError(where(name, node) + key + ": empty list (leave the key out instead)");
    }
    for (const auto& element : *array) {
      one(element);
    }
  } else {
    one(node);
  }
  return out;
}

// Ports as numbers or "8000-8999" strings, or one "443,8000-8999" string.
PortList portsValue(const toml::node& node, const std::string& name) {
  std::string text;
  auto append = [&](const toml::node& value) {
    if (auto i = value.as_integer()) {
      text += (text.empty() ? "" : ",") + std::to_string(i->get());
    } else if (auto s = value.as_string()) {
      text += (text.empty() ? "" : ",") + s->get();
    } else {
      throw ConfigError(where(name, value) + "ports: expected port numbers or \"low-high\"");
    }
  };
  if (auto array = node.as_array()) {
    for (const auto& element : *array) {
      append(element);
    }
  } else {
    append(node);
  }
  std::string error;
  auto list = PortList::parse(text, error);
  if (!list) {
    throw ConfigError(where(name, node) + "ports: " + error);
  }
  return *list;
}

RuleSpec parseRule(const toml::table& table, const std::string& name, const toml::node& at) {
  RuleSpec rule;
  rule.where = locate(name, at);
  bool hasAction = false;
  for (const auto& [keyName, node] : table) {
    const std::string key(keyName.str());
    if (key == "name") {
      rule.name = nameValue(node, name, key);
    } else if (key == "action") {
      auto s = node.as_string();
      if (s == nullptr || (s->get() != "allow" && s->get() != "deny")) {
        throw ConfigError(where(name, node) + "action: expected \"allow\" or \"deny\"");
      }
      rule.action = s->get() == "allow" ? RuleAction::Allow : RuleAction::Deny;
      hasAction = true;
    } else if (key == "report") {
      rule.report = booleanValue(node, name, key);
    } else if (key == "connect") {
      rule.connect = booleanValue(node, name, key);
    } else if (key == "clients") {
      rule.clients = stringList(node, name, key);
    } else if (key == "users") {
      rule.users = stringList(node, name, key);
    } else if (key == "groups") {
      rule.groups = stringList(node, name, key);
    } else if (key == "hosts") {
      rule.hosts = stringList(node, name, key);
    } else if (key == "cidrs") {
      rule.cidrs = stringList(node, name, key);
    } else if (key == "methods") {
      rule.methods = stringList(node, name, key);
      for (LocatedString& m : rule.methods) {
        for (char c : m.value) {
          if (!isTokenChar(c)) {
            throw ConfigError(m.where.prefix() + "methods: \"" + m.value + "\" is not a method");
          }
        }
      }
    } else if (key == "ports") {
      rule.ports = portsValue(node, name);
    } else if (key == "hosts_file") {
      auto s = node.as_string();
      if (s == nullptr || s->get().empty()) {
        throw ConfigError(where(name, node) + "hosts_file: expected a file name");
      }
      rule.hostsFile = s->get().front() == '/' ? s->get() : directoryOf(name) + s->get();
      rule.hostsFileWhere = locate(name, node);
    } else if (key == "via") {
      rule.via = nameValue(node, name, key);
      rule.viaWhere = locate(name, node);
    } else {
      throw ConfigError(where(name, node) + "unknown key \"" + key + "\" in [[rule]]");
    }
  }
  std::string label = rule.where.prefix() + "[[rule]]";
  if (rule.name.empty()) {
    throw ConfigError(label + " needs a name");
  }
  label += " \"" + rule.name + "\"";
  if (!hasAction) {
    throw ConfigError(label + " needs an action (allow or deny)");
  }
  if (rule.report && rule.action != RuleAction::Deny) {
    throw ConfigError(label + ": report = true only makes sense on a deny rule");
  }
  if (!rule.via.empty() && rule.action != RuleAction::Allow) {
    throw ConfigError(label + ": via only makes sense on an allow rule");
  }
  return rule;
}

// Percent-decodes URL userinfo; false on a bad escape.
bool percentDecode(std::string_view in, std::string& out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    int hi = hex(in[i + 1]);
    int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Splits "user:password" into the parent's secrets; false if there is no colon.
bool setCredentials(std::string_view userinfo, ParentSpec& parent) {
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string user;
  std::string password;
  bool ok = percentDecode(userinfo.substr(0, colon), user) &&
            percentDecode(userinfo.substr(colon + 1), password);
  parent.user = Secret(user);
  parent.password = Secret(password);
  wipeString(user);
  wipeString(password);
  return ok;
}

// Parses "http://[user:pass@]host:port[/]". Errors never quote the URL: it may hold a password.
void parseParentUrl(const std::string& url, ParentSpec& parent, const std::string& label) {
  std::string_view rest(url);
  if (!rest.starts_with("http://")) {
    throw ConfigError(label + "url: expected http://[user:password@]host:port");
  }
  rest.remove_prefix(7);
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    if (!setCredentials(rest.substr(0, at), parent)) {
      throw ConfigError(label + "url: credentials must be user:password (percent-encoded)");
    }
    rest.remove_prefix(at + 1);
  }
  std::string_view host;
  std::string_view port;
  if (rest.starts_with("[")) {
    size_t close = rest.find("]:");
    if (close == std::string_view::npos) {
      throw ConfigError(label + "url: expected [IPv6]:port");
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      throw ConfigError(label + "url: the port is required (http://host:port)");
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  bool hostOk = !host.empty() && host.size() <= 253;
  for (char c : host) {
    hostOk = hostOk && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                        c == '_' || c == ':');
  }
  auto number = parseCount(std::string(port), 1, 65535);
  if (!hostOk || !number) {
    throw ConfigError(label + "url: invalid host or port");
  }
  parent.host = std::string(host);
  parent.port = static_cast<uint16_t>(*number);
}

// Reads "user:password" from the first line that is neither blank nor a comment.
void readCredentialsFile(ParentSpec& parent, const std::string& label) {
  std::ifstream in(parent.credentialsFile, std::ios::binary);
  if (!in) {
    throw ConfigError(label + "credentials_file: cannot read " + parent.credentialsFile);
  }
  std::string line;
  uint32_t number = 0;
  bool found = false;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    found = setCredentials(line, parent);
    wipeString(line);
    if (!found) {
      throw ConfigError(parent.credentialsFile + ":" + std::to_string(number) +
                        ": expected user:password");
    }
    break;
  }
  wipeString(line);
  if (!found) {
    throw ConfigError(parent.credentialsFile + ": no user:password line");
  }
}

ParentSpec parseParent(const toml::table& table, const std::string& name, const toml::node& at) {
  ParentSpec parent;
  parent.where = locate(name, at);
  const toml::node* url = nullptr;
  for (const auto& [keyName, node] : table) {
    const std::string key(keyName.str());
    if (key == "name") {
      parent.name = nameValue(node, name, key);
    } else if (key == "url") {
      if (!node.is_string()) {
        throw ConfigError(where(name, node) + "url: expected a string");
      }
      url = &node;
    } else if (key == "credentials_file") {
      auto s = node.as_string();
      if (s == nullptr || s->get().empty()) {
        throw ConfigError(where(name, node) + "credentials_file: expected a file name");
      }
      parent.credentialsFile = s->get().front() == '/' ? s->get() : directoryOf(name) + s->get();
    } else {
      throw ConfigError(where(name, node) + "unknown key \"" + key + "\" in [[parent]]");
    }
  }
  if (parent.name.empty()) {
    throw ConfigError(parent.where.prefix() + "[[parent]] needs a name");
  }
  if (parent.name == "direct") {
    throw ConfigError(parent.where.prefix() + "[[parent]] cannot be called \"direct\"");
  }
  if (url == nullptr) {
    throw ConfigError(parent.where.prefix() + "[[parent]] \"" + parent.name + "\" needs a url");
  }
  parseParentUrl(url->as_string()->get(), parent, where(name, *url));
  if (!parent.credentialsFile.empty()) {
    if (parent.hasCredentials()) {
      throw ConfigError(where(name, *url) +
                        "url: credentials in both the url and credentials_file");
    }
    readCredentialsFile(parent, parent.where.prefix());
  }
  return parent;
}

// [[rule]] and [[parent]]: arrays of tables.
template <class Parse>
void applyTables(const toml::node& node, const std::string& name, const std::string& key,
                 Parse parse) {
  auto array = node.as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    throw ConfigError(where(name, node) + key + ": use [[" + key + "]] tables");
  }
  for (const auto& element : *array) {
    parse(*element.as_table(), element);
  }
}

void applyTable(const toml::table& table, const std::string& name, Config& config) {
  for (const auto& [key, node] : table) {
    if (key.str() == "rule") {
      applyTables(node, name, "rule", [&](const toml::table& t, const toml::node& at) {
        config.rules.push_back(parseRule(t, name, at));
      });
      continue;
    }
    if (key.str() == "parent") {
      applyTables(node, name, "parent", [&](const toml::table& t, const toml::node& at) {
        config.parents.push_back(parseParent(t, name, at));
      });
      continue;
    }
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

// Parent URLs may carry a password: overwrite them in the parsed tree before it is freed.
void wipeParentUrls(toml::table& table) {
  if (auto parents = table["parent"].as_array()) {
    for (auto& element : *parents) {
      if (auto t = element.as_table()) {
        if (auto url = (*t)["url"].as_string()) {
          wipeString(url->get());
        }
      }
    }
  }
}

} // namespace

std::string SourceLocation::prefix() const {
  return file + ":" + std::to_string(line) + ": ";
}

const ParentSpec* Config::parent(std::string_view wanted) const {
  for (const ParentSpec& p : parents) {
    if (p.name == wanted) {
      return &p;
    }
  }
  return nullptr;
}

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
  try {
    applyTable(table, name, config);
  } catch (...) {
    wipeParentUrls(table);
    throw;
  }
  wipeParentUrls(table);
}

void loadFile(const std::string& path, Config& config) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ignored;
  if (!in || std::filesystem::is_directory(path, ignored)) {
    throw ConfigError(path + ": cannot read the configuration file");
  }
  // The file may hold a parent's password: read it into one buffer of the right size (no
  // stream or regrowth leaving copies behind) and wipe it once parsed, whatever happens.
  std::string text;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size > 64 * 1024 * 1024) {
    throw ConfigError(path + ": configuration file larger than 64 MiB");
  }
  if (size >= 0) {
    in.seekg(0, std::ios::beg);
    text.resize(static_cast<size_t>(size));
    in.read(text.data(), size);
    text.resize(static_cast<size_t>(in.gcount()));
  } else {
    // A pipe (--config <(...)): read in chunks into a generous reservation.
    in.clear();
    text.reserve(1024 * 1024);
    char chunk[4096];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
      text.append(chunk, static_cast<size_t>(in.gcount()));
      if (text.size() > 64 * 1024 * 1024) {
        wipeString(text);
        throw ConfigError(path + ": configuration file larger than 64 MiB");
      }
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
  }
  struct Wipe {
    std::string& text;
    ~Wipe() { wipeString(text); }
  } wipe{text};
  loadString(text, path, config);
}

void validate(const Config& c) {
  if (!c.tlsListen.empty() && (c.tlsCert.empty() || c.tlsKey.empty())) {
    throw ConfigError("tls_listen needs tls_cert and tls_key");
  }
  if (c.tlsClientCertAuth && c.tlsClientCa.empty()) {
    throw ConfigError("tls_client_cert_auth needs tls_client_ca");
  }
  if (!c.authFile.empty() && !c.authHelper.empty()) {
    throw ConfigError("auth_file and auth_helper exclude each other: choose one backend");
  }
  if (!c.groupFile.empty() && !c.groupHelper.empty()) {
    throw ConfigError("group_file and group_helper exclude each other: choose one");
  }
  if ((!c.groupFile.empty() || !c.groupHelper.empty()) && c.authFile.empty() &&
      c.authHelper.empty()) {
    throw ConfigError("group_file and group_helper need authentication (auth_file or auth_helper)");
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
  for (size_t i = 0; i < c.parents.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (c.parents[i].name == c.parents[j].name) {
        throw ConfigError(c.parents[i].where.prefix() + "[[parent]] \"" + c.parents[i].name +
                          "\" is defined twice (first at line " +
                          std::to_string(c.parents[j].where.line) + ")");
      }
    }
  }
  if (!c.upstreamProxy.empty() && c.parent(c.upstreamProxy) == nullptr) {
    throw ConfigError("upstream_proxy: no [[parent]] named \"" + c.upstreamProxy + "\"");
  }
  for (size_t i = 0; i < c.rules.size(); ++i) {
    const RuleSpec& rule = c.rules[i];
    for (size_t j = 0; j < i; ++j) {
      if (rule.name == c.rules[j].name) {
        throw ConfigError(rule.where.prefix() + "[[rule]] \"" + rule.name +
                          "\" is defined twice (first at line " +
                          std::to_string(c.rules[j].where.line) + ")");
      }
    }
    if (!rule.via.empty() && rule.via != "direct" && c.parent(rule.via) == nullptr) {
      throw ConfigError(rule.viaWhere.prefix() + "via: no [[parent]] named \"" + rule.via +
                        "\" (or use \"direct\")");
    }
  }
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
