#include "gatehouse/proxy/generation.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <unistd.h>

#include "gatehouse/auth/user_file.h"

namespace gatehouse::proxy {

TlsSources TlsSources::of(std::vector<std::string> paths) {
  TlsSources sources;
  for (const std::string& path : paths) {
    sources.stamps.push_back(auth::FileStamp::of(path));
  }
  sources.paths = std::move(paths);
  return sources;
}

GenerationPtr loadGeneration(config::Config config, uint64_t number, const Generation* previous) {
  auto generation = std::make_shared<Generation>();
  // The policy first: its errors name the file and line of the [[rule]] at fault.
  generation->egressPolicy = policy::EgressPolicy::compile(config);
  if (auto problem = policy::openProxyProblem(config)) {
    throw config::ConfigError(*problem);
  }
  // The config load checked these already; a start spawns them later, on demand, so look
  // again here: a helper removed since then fails --check and the reload, not the first login.
  for (const std::vector<std::string>* argv : {&config.authHelper, &config.groupHelper}) {
    if (!argv->empty() && ::access(argv->front().c_str(), X_OK) != 0) {
      throw std::runtime_error("the helper program " + argv->front() + " is not executable (" +
                               std::strerror(errno) + ")");
    }
  }
  if (!config.authFile.empty() || !config.authHelper.empty()) {
    auth::AuthOptions options;
    options.path = config.authFile;
    options.realm = config.realm;
    options.allowPlain = config.authPlaintext;
    options.cacheTtlMs = config.authCacheTtlMs;
    options.maxFailures = config.authMaxFailures;
    options.failureWindowMs = config.authFailureWindowMs;
    options.maxSlowChecks = config.authMaxPendingChecks;
    options.helperArgv = config.authHelper;
    options.helperChildren = static_cast<unsigned>(config.authHelperChildren);
    options.helperConcurrency = static_cast<unsigned>(config.authHelperConcurrency);
    options.helperQueue = config.authHelperQueue;
    options.helperTimeoutMs = config.authHelperTimeoutMs;
    options.negativeTtlMs = config.authNegativeTtlMs;
    options.groupFile = config.groupFile;
    options.groupHelperArgv = config.groupHelper;
    options.groupHelperChildren = static_cast<unsigned>(config.groupHelperChildren);
    options.groupHelperConcurrency = static_cast<unsigned>(config.groupHelperConcurrency);
    options.groupTtlMs = config.groupCacheTtlMs;
    options.groupNegativeTtlMs = config.groupNegativeTtlMs;
    if (previous != nullptr && previous->authStore && previous->authStore->unchangedFor(options)) {
      generation->authStore = previous->authStore; // same settings and files: nothing to re-read
    } else {
      generation->authStore = std::make_shared<auth::AuthStore>(options); // throws if unreadable
    }
  }
  if (!config.tlsListen.empty()) {
    tls::ServerOptions options{config.tlsCert, config.tlsKey, config.tlsClientCa};
    generation->tlsServerSources =
        TlsSources::of({options.certFile, options.keyFile, options.clientCaFile});
    if (previous != nullptr && previous->tlsServer &&
        previous->tlsServerSources == generation->tlsServerSources) {
      generation->tlsServer = previous->tlsServer;
    } else {
      // Throws naming the file on a bad certificate, key, a key that does not match, or CA.
      generation->tlsServer = std::make_shared<tls::ServerContextHolder>(options);
    }
  }
  generation->upstreamTlsSources =
      TlsSources::of({config.upstreamCa.empty() ? tls::systemCaFile() : config.upstreamCa});
  if (previous != nullptr && previous->upstreamTls &&
      previous->upstreamTlsSources == generation->upstreamTlsSources) {
    generation->upstreamTls = previous->upstreamTls;
  } else {
    generation->upstreamTls = tls::makeClientContext(config.upstreamCa);
  }
  generation->config = std::make_shared<const config::Config>(std::move(config));
  generation->number = number;
  return generation;
}

std::vector<std::string> checkWritablePaths(const config::Config& config) {
  std::vector<std::string> problems;
  const std::string& path = config.accessLog;
  if (path.empty() || path == "-" || path == "off") {
    return problems;
  }
  // A start appends to the file, creating it if needed: test the same without writing.
  if (::access(path.c_str(), F_OK) == 0) {
    if (::access(path.c_str(), W_OK) != 0) {
      problems.push_back("access log " + path + ": " + std::strerror(errno));
    }
    return problems;
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    problems.push_back("access log " + path + ": cannot create it in " + dir + ": " +
                       std::strerror(errno));
  }
  return problems;
}

std::vector<std::string> settingsNeedingRestart(const config::Config& running,
                                                const config::Config& loaded) {
  std::vector<std::string> lines;
  auto note = [&lines](bool differs, const char* key) {
    if (differs) {
      lines.push_back(std::string(key) + " changed: it takes effect at the next restart");
    }
  };
  note(running.workers != loaded.workers, "workers");
  note(running.dnsServers != loaded.dnsServers, "dns_servers");
  note(running.dnsTimeoutMs != loaded.dnsTimeoutMs, "dns_timeout");
  note(running.dnsCacheSize != loaded.dnsCacheSize, "dns_cache_size");
  note(running.dnsNegativeTtlMs != loaded.dnsNegativeTtlMs, "dns_negative_ttl");
  note(running.accessLog != loaded.accessLog, "access_log");
  // Set once at start-up: the log format, the per-worker limiter and the admin listener.
  note(running.accessLogFormat != loaded.accessLogFormat, "access_log_format");
  note(running.refusedLogLines != loaded.refusedLogLines, "refused_log_lines");
  note(running.refusedLogWindowMs != loaded.refusedLogWindowMs, "refused_log_window");
  note(running.adminListen != loaded.adminListen, "admin_listen");
  note(running.adminAuthFile != loaded.adminAuthFile, "admin_auth_file");
  return lines;
}

} // namespace gatehouse::proxy
