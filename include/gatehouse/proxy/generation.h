#pragma once
// One generation of configuration: the frozen config and everything a start loads from the
// files it names. Built off the event loops (at start, on SIGHUP, by --check), then shared
// read-only by every worker. A request runs under the generation in place when it began;
// keep-alive connections move to a newer one between requests.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/auth/user_file.h"
#include "gatehouse/config/config.h"
#include "gatehouse/policy/rules.h"
#include "gatehouse/tls/tls.h"

namespace gatehouse::proxy {

// The files a TLS context was built from, as they were then: a reload whose files are the same
// keeps the context (building the origin store alone parses the whole system CA bundle, about
// 20 ms of CPU taken from the workers on every SIGHUP).
struct TlsSources {
  std::vector<std::string> paths;
  std::vector<auth::FileStamp> stamps;
  static TlsSources of(std::vector<std::string> paths);
  bool operator==(const TlsSources&) const = default;
};

struct Generation {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<auth::AuthStore> authStore;          // null: an open proxy
  std::shared_ptr<tls::ServerContextHolder> tlsServer; // null: no TLS listener
  tls::ContextPtr upstreamTls;
  TlsSources tlsServerSources;
  TlsSources upstreamTlsSources;
  std::shared_ptr<const policy::EgressPolicy> egressPolicy; // the [[rule]] tables, compiled
  uint64_t number = 1; // 1 at start, +1 per accepted reload (for log lines)
};
using GenerationPtr = std::shared_ptr<const Generation>;

// Loads every file `config` names exactly as a start does: the user file or auth helper, the
// TLS listener's certificate and key (and that they match), the client CA, the upstream CA,
// and compiles the egress policy (hosts files included), refusing an open proxy on a public
// address. Throws std::runtime_error (config::ConfigError for the policy, with file:line)
// naming the file on the first failure. `number` labels the result. With `previous` (a
// reload), its authentication store and TLS contexts are kept when the settings and files they
// read are unchanged: a SIGHUP then neither re-parses a large user file nor resets the
// throttling, and does not rebuild a CA store.
GenerationPtr loadGeneration(config::Config config, uint64_t number = 1,
                             const Generation* previous = nullptr);

// What --check adds to loadGeneration: places a start opens for writing (the access log).
// Returns problems as lines ("" when none); a start would fail on each.
std::vector<std::string> checkWritablePaths(const config::Config& config);

// The settings that a reload cannot change (the worker count, DNS servers): one line per
// setting that differs, for the log; they keep their old values until a restart.
std::vector<std::string> settingsNeedingRestart(const config::Config& running,
                                                const config::Config& loaded);

} // namespace gatehouse::proxy
