#pragma once
// The proxy's configuration: one immutable value built at start from conf file and flags.
// Every setting is described once (kSettings in config.cc) and that table drives the TOML
// loader, the command-line flags and their validation alike.

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gatehouse/config/port_list.h"
#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::config {

// A configuration error with where it was found ("conf/x.toml:12: ..." or "--flag: ...").
class ConfigError : public std::runtime_error {
public:
  explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

struct Config {
  std::vector<std::string> listen = {"127.0.0.1:3128"};
  PortList connectPorts = PortList::only(443);
  uint64_t connectTimeoutMs = 10'000;
  uint64_t readTimeoutMs = 30'000;
  uint64_t responseTimeoutMs = 60'000;
  uint64_t idleTimeoutMs = 120'000;
  uint64_t requestHeadTimeoutMs = 15'000;
  uint64_t dnsTimeoutMs = 5'000;
  std::string dnsServers; // "IP[:port],...": empty means /etc/resolv.conf
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
  // Proxy authentication (off when authFile is empty).
  std::string authFile;
  std::string realm = "gatehouse";
  bool authPlaintext = false;
  uint64_t authCacheTtlMs = 5 * 60 * 1000;
  uint64_t authMaxFailures = 10;
  uint64_t authFailureWindowMs = 60 * 1000;
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

  std::vector<uv::SocketAddress> tlsListenAddresses() const;

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
  std::function<void(Config&)> clear;
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
// The default pseudonym: "<hostname>:<port of the first listener>", as a valid token.
std::string defaultPseudonym(const Config& config);

} // namespace gatehouse::config
