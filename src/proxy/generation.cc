#include "gatehouse/proxy/generation.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "gatehouse/auth/user_file.h"

namespace gatehouse::proxy {

GenerationPtr loadGeneration(config::Config config, uint64_t number) {
  auto generation = std::make_shared<Generation>();
  if (!config.authFile.empty()) {
    auth::AuthOptions options;
    options.path = config.authFile;
    options.realm = config.realm;
    options.allowPlain = config.authPlaintext;
    options.cacheTtlMs = config.authCacheTtlMs;
    options.maxFailures = config.authMaxFailures;
    options.failureWindowMs = config.authFailureWindowMs;
    generation->authStore = std::make_shared<auth::AuthStore>(options); // throws if unreadable
  }
  if (!config.tlsListen.empty()) {
    // Throws naming the file on a bad certificate, key, a key that does not match, or a bad CA.
    generation->tlsServer = std::make_shared<tls::ServerContextHolder>(
        tls::ServerOptions{config.tlsCert, config.tlsKey, config.tlsClientCa});
  }
  generation->upstreamTls = tls::makeClientContext(config.upstreamCa);
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
  note(running.accessLog != loaded.accessLog, "access_log");
  return lines;
}

} // namespace gatehouse::proxy
