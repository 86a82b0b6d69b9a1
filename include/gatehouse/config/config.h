#pragma once
// The proxy's configuration: one immutable value built at start from conf file and flags.
// Every setting is described once (the table in settings.cc) and that table drives the TOML
// loader, the command-line flags and their validation alike.

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/port_list.h"
#include "gatehouse/config/secret.h"
#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::config {

// A configuration error with where it was found ("conf/x.toml:12: ..." or "--flag: ...").
class ConfigError : public std::runtime_error {
public:
  explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

// One listening address and how connections on it start.
struct ListenerSpec {
  uv::SocketAddress address;
  bool proxyProtocol = false; // every connection starts with a PROXY v1 or v2 header
};

// Where a value was written, for checks made after loading ("conf/x.toml:12").
struct SourceLocation {
  std::string file;
  uint32_t line = 0;
  // "conf/x.toml:12: " (the prefix every config error starts with).
  std::string prefix() const;
};

// A value from the file with its location.
struct LocatedString {
  std::string value;
  SourceLocation where;
};

enum class RuleAction : uint8_t { Allow, Deny };
// Whether and how the client's address is passed on to origins.
enum class ForwardedFor : uint8_t { Off, XForwardedFor, Forwarded };

// One [[rule]] table as written. The policy layer compiles it (CIDRs, host patterns, the
// hosts file) and reports bad values with the locations kept here. Every condition that is
// present must hold for the rule to match; absent conditions match everything.
struct RuleSpec {
  std::string name;
  RuleAction action = RuleAction::Allow;
  bool report = false; // deny rules only: log would_deny and let the request through
  std::optional<bool> connect;
  std::vector<LocatedString> clients; // client CIDRs
  std::vector<LocatedString> users;
  std::vector<LocatedString> groups;
  std::vector<LocatedString> hosts; // exact names, *.suffix, .domain
  std::vector<LocatedString> cidrs; // destination CIDRs
  std::vector<LocatedString> methods;
  std::optional<PortList> ports;
  std::string hostsFile; // resolved against the config file's directory
  SourceLocation hostsFileWhere;
  std::string via; // "" (use upstream_proxy), "direct", or a [[parent]] name
  SourceLocation viaWhere;
  SourceLocation where; // the [[rule]] line
};

// One [[parent]] proxy. Credentials come from the url's userinfo or from credentials_file
// (one "user:password" line), never both; they are held as Secrets and never printed.
struct ParentSpec {
  std::string name;
  std::string host; // name or numeric address (IPv6 without brackets)
  uint16_t port = 0;
  Secret user;
  Secret password;
  std::string credentialsFile;
  SourceLocation where;
  bool hasCredentials() const { return !user.empty() || !password.empty(); }
};

struct Config {
  std::vector<std::string> listen = {"127.0.0.1:3128"};
  PortList connectPorts = PortList::only(443);
  uint64_t connectTimeoutMs = 10'000;
  uint64_t readTimeoutMs = 30'000;
  uint64_t responseTimeoutMs = 60'000;
  uint64_t idleTimeoutMs = 120'000;
  uint64_t drainTimeoutMs = 30'000; // SIGTERM: how long running exchanges may take to finish
  uint64_t requestHeadTimeoutMs = 15'000;
  uint64_t dnsTimeoutMs = 5'000;
  std::string dnsServers;            // "IP[:port],...": empty means /etc/resolv.conf
  uint64_t dnsCacheSize = 10'000;    // names per worker's DNS cache (negative: a quarter)
  uint64_t dnsNegativeTtlMs = 5'000; // NXDOMAIN/NODATA kept this long (0: not cached)
  std::string logLevel = "info";
  std::string accessLog = "-";
  std::string accessLogFormat = "gatehouse"; // gatehouse, squid, common or json
  // Diagnostic lines of refused requests: at most this many per client address per window.
  uint64_t refusedLogLines = 10;
  uint64_t refusedLogWindowMs = 10'000;
  unsigned workers = 0;  // 0: one per core
  std::string pseudonym; // empty: derived from host name and first listen port
  errors::StatusMode statusMode = errors::StatusMode::Proxy;
  bool allowTrace = false;
  bool splice = true; // splice(2) for tunnels and response bodies (off: always copy)
  uint64_t maxHeadSize = 64 * 1024;
  uint64_t maxHeaderFields = 100;
  uint64_t maxTargetLength = 8 * 1024;
  uint64_t maxConnections = 10'000;
  // Proxy authentication (off when both authFile and authHelper are empty).
  std::string authFile;
  std::string realm = "gatehouse";
  bool authPlaintext = false;
  uint64_t authCacheTtlMs = 5 * 60 * 1000;
  uint64_t authMaxFailures = 10;
  uint64_t authFailureWindowMs = 60 * 1000;
  uint64_t authMaxPendingChecks = 32; // hash checks queued on the thread pool per worker
  // A Squid basic auth helper instead of auth_file (program and arguments).
  std::vector<std::string> authHelper;
  uint64_t authHelperChildren = 5;    // per worker
  uint64_t authHelperConcurrency = 0; // 0: one request per child, no channel IDs
  uint64_t authHelperQueue = 100;
  uint64_t authHelperTimeoutMs = 5'000;
  uint64_t authNegativeTtlMs = 5'000; // a helper's ERR is remembered this long
  // Groups for the policy: an htgroup file or a Squid external ACL helper.
  std::string groupFile;
  std::vector<std::string> groupHelper;
  uint64_t groupHelperChildren = 2;
  uint64_t groupHelperConcurrency = 0;
  uint64_t groupCacheTtlMs = 5 * 60 * 1000;
  uint64_t groupNegativeTtlMs = 60 * 1000;
  // TLS: the proxy's own HTTPS listeners, and origins fetched over TLS.
  std::vector<std::string> tlsListen;
  std::string tlsCert;
  std::string tlsKey;
  std::string tlsClientCa;
  bool tlsClientCertAuth = false; // a verified client certificate stands in for Basic auth
  std::string upstreamCa;         // empty: the system store
  // Admin listener (/healthz, /readyz, /metrics, /proxy.pac, live view); empty: off.
  std::string adminListen;
  std::string adminAuthFile; // htpasswd-style users allowed on the admin listener; empty: open
  // The PAC file served at /proxy.pac.
  std::string pacProxy; // "host:port" as clients reach the proxy; empty: the first listen
  std::vector<std::string> pacDirectDomains; // "example.test" (and its subdomains) go direct
  std::vector<std::string> pacDirectCidrs;   // "10.0.0.0/8" destinations go direct
  // Egress policy (see docs/policy.md).
  RuleAction defaultAction = RuleAction::Allow;
  std::vector<RuleSpec> rules;
  std::vector<ParentSpec> parents;
  std::string upstreamProxy;     // a [[parent]] name; empty: direct
  std::optional<bool> ssrfGuard; // nullopt: on unless loopback-only and without auth
  bool allowOpenProxy = false;
  ForwardedFor forwardedFor = ForwardedFor::Off;

  // The parent named `name`, or nullptr.
  const ParentSpec* parent(std::string_view name) const;

  std::vector<uv::SocketAddress> tlsListenAddresses() const;

  // The plain (tls false) or TLS listeners, parsed (validated at load).
  std::vector<ListenerSpec> listeners(bool tls) const;
  // The listen addresses, parsed (validated at load).
  std::vector<uv::SocketAddress> listenAddresses() const;
  // Worker count after applying the "one per core" default.
  unsigned effectiveWorkers() const;
};

// One setting: its TOML key (flag: "--" + key with '_' as '-'), help text, and how to apply
// a textual value. Array-valued settings take one element per call.
struct Setting {
  const char* key;
  const char* help;
  bool repeated; // a list: the file's or the flags' values replace the default list
  // Applies `value`; returns an error message, or nullopt.
  std::function<std::optional<std::string>(Config&, const std::string& value)> apply;
  std::string flag() const;
  // For repeated settings: empties the list before the first value is applied.
  std::function<void(Config&)> clear{};
};
const std::vector<Setting>& settings();

// Parses a TOML file onto `config`. Throws ConfigError naming file and line.
void loadFile(const std::string& path, Config& config);
// Parses TOML text (for tests); `name` stands in for the file name in errors.
void loadString(const std::string& text, const std::string& name, Config& config);
// Cross-setting checks after everything is applied (TLS listener needs cert and key...).
// Throws ConfigError.
void validate(const Config& config);
// Parses "HOST:PORT" or "[V6]:PORT" with a numeric host; nullopt and `error` on failure.
std::optional<uv::SocketAddress> parseListenAddress(const std::string& text, std::string& error);
// Parses a listen value: an address, then options ("127.0.0.1:3129 proxy_protocol").
std::optional<ListenerSpec> parseListener(const std::string& text, std::string& error);
// The default pseudonym: "<hostname>:<port of the first listener>", as a valid token.
std::string defaultPseudonym(const Config& config);

} // namespace gatehouse::config
