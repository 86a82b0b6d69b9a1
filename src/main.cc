// gatehouse: a forward HTTP proxy. Parses the command line and config file, starts the
// workers, and turns signals into reload and shutdown.

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "gatehouse/admin/admin_server.h"
#include "gatehouse/auth/user_file.h"
#include "gatehouse/config/config.h"
#include "gatehouse/config/duration.h"
#include "gatehouse/log/log.h"
#include "gatehouse/policy/explain.h"
#include "gatehouse/policy/rules.h"
#include "gatehouse/probe/command.h"
#include "gatehouse/proxy/generation.h"
#include "gatehouse/proxy/server.h"

#ifdef GATEHOUSE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

using gatehouse::config::Config;
using gatehouse::config::ConfigError;
using gatehouse::config::Setting;
using gatehouse::proxy::GenerationPtr;

namespace {

// Tells systemd (Type=notify) about the state; nothing without NOTIFY_SOCKET or libsystemd.
void notifySystemd(const char* state) {
#ifdef GATEHOUSE_HAVE_SYSTEMD
  sd_notify(0, state);
#else
  (void)state;
#endif
}

// Each connection takes a descriptor on the client side and one upstream: raise the soft
// limit to the hard one and say when max_connections cannot fit.
void raiseFileLimit(const Config& config, spdlog::logger& log) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    }
  }
  // Two descriptors per connection (client, upstream) and some for listeners, DNS, logs.
  const uint64_t needed = config.maxConnections * 2 + 64;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    log.warn("open file limit {} is below the {} that max_connections = {} can need; raise "
             "LimitNOFILE (systemd) or ulimit -n, or lower max_connections",
             static_cast<uint64_t>(limit.rlim_cur), needed, config.maxConnections);
  }
}

void logStarted(const gatehouse::proxy::Server& server, spdlog::logger& log) {
  const Config& config = server.config();
  for (const auto& address : server.boundAddresses()) {
    log.info("listening on {} ({} workers, pseudonym {})", address.toString(),
             config.effectiveWorkers(), server.pseudonym());
  }
  for (const auto& address : server.boundTlsAddresses()) {
    log.info("listening for TLS on {} (certificate {})", address.toString(), config.tlsCert);
  }
  log.info("CONNECT allowed to ports {}; timeouts: connect {}, read {}, response {}, idle {}",
           config.connectPorts.toString(),
           gatehouse::config::formatDuration(config.connectTimeoutMs),
           gatehouse::config::formatDuration(config.readTimeoutMs),
           gatehouse::config::formatDuration(config.responseTimeoutMs),
           gatehouse::config::formatDuration(config.idleTimeoutMs));
  gatehouse::auth::AuthStore* authStore = server.authStore();
  if (authStore == nullptr) {
    log.warn("no authentication configured: this is an open proxy (developer mode); "
             "keep it on loopback");
  } else if (!config.authHelper.empty()) {
    log.info("proxy authentication: Basic, realm \"{}\", checked by the helper {} ({} per "
             "worker, started on demand)",
             config.realm, config.authHelper.front(), config.authHelperChildren);
  } else {
    log.info("proxy authentication: Basic, realm \"{}\", {} users from {}", config.realm,
             authStore->users()->users.size(), config.authFile);
    for (const std::string& warning : authStore->lastWarnings()) {
      log.warn("{}", warning);
    }
  }
}

// SIGHUP: loads the whole configuration on this (main) thread, off the event loops, and
// swaps it in; anything invalid keeps the running configuration.
template <typename LoadConfig>
void reloadConfiguration(gatehouse::proxy::Server& server, LoadConfig& loadConfig,
                         uint64_t& nextGeneration, spdlog::logger& log) {
  const auto began = std::chrono::steady_clock::now();
  const GenerationPtr previous = server.generation();
  GenerationPtr next;
  try {
    next = gatehouse::proxy::loadGeneration(loadConfig(), nextGeneration, previous.get());
    for (const std::string& line :
         gatehouse::proxy::settingsNeedingRestart(server.config(), *next->config)) {
      log.warn("SIGHUP: {}", line);
    }
    server.reload(next);
  } catch (const std::exception& e) {
    log.error("SIGHUP: reload refused, the running configuration stays: {}", e.what());
    return;
  }
  ++nextGeneration;
  if (next->authStore && next->config->authHelper.empty()) {
    log.info("reloaded {} users from {}", next->authStore->users()->users.size(),
             next->config->authFile);
    for (const std::string& warning : next->authStore->lastWarnings()) {
      log.warn("{}", warning);
    }
  }
  if (next->tlsServer && next->tlsServer != previous->tlsServer) {
    log.info("TLS certificate reloaded from {}", next->config->tlsCert);
  }
  gatehouse::log::diag().set_level(spdlog::level::from_str(next->config->logLevel));
  const auto tookMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - began)
                          .count();
  log.info("SIGHUP: configuration reloaded (generation {}, {} ms); new connections use it, open "
           "ones move to it at their next request (running requests and tunnels finish as they "
           "began)",
           next->number, tookMs);
}

// SIGTERM/SIGINT: stop accepting, wait up to drain_timeout for the open connections, then
// return (the caller cuts the rest). A second signal ends the wait at once.
void drain(gatehouse::proxy::Server& server, const sigset_t& signals, const char* name,
           spdlog::logger& log) {
  const uint64_t timeoutMs = server.config().drainTimeoutMs;
  notifySystemd("STOPPING=1\nSTATUS=draining");
  server.beginDrain();
  log.info("{}: draining: no new connections; open ones get up to {} to finish (send it "
           "again to stop at once)",
           name, gatehouse::config::formatDuration(timeoutMs));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (!server.allWorkersFinished()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      log.warn("drain timeout: closing {} connections still open", server.openConnections());
      return;
    }
    timespec tick{0, 50'000'000};
    int again = sigtimedwait(&signals, nullptr, &tick);
    if (again == SIGTERM || again == SIGINT) {
      log.warn("second signal: closing {} connections still open", server.openConnections());
      return;
    }
    if (again == SIGUSR1) {
      log.info("{}", gatehouse::log::reopenFiles());
    }
  }
  log.info("drained: every connection finished");
}

} // namespace

int main(int argc, char** argv) {
  // Descriptors inherited from whoever started us (a shell, a test runner) stay open but are
  // not passed on to the auth and group helpers we spawn; ours are opened close-on-exec.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  CLI::App app{"gatehouse: a forward HTTP proxy (absolute-form forwarding and CONNECT tunnels)",
               "gatehouse"};
  std::string configPath;
  bool checkOnly = false;
  std::string explainQuery;
  app.add_option("--config", configPath, "TOML configuration file (see conf/gatehouse.toml)");
  app.add_flag("--check", checkOnly, "Validate the configuration and exit (0: valid, 1: not)");
  app.add_option("--explain", explainQuery,
                 "With --check: which rule decides a request and why, e.g. "
                 "'alice[eng] CONNECT example.com:443 from 10.1.2.3 [resolved 1.2.3.4]' "
                 "(exit 0: allowed, 2: denied)")
      ->needs("--check");
  app.set_version_flag("--version", "gatehouse 0.1.0");

  // Every setting is also a flag. Values are checked as they are parsed (so errors name the
  // flag) and applied after the file, so flags override it.
  std::vector<std::pair<const Setting*, std::vector<std::string>>> overrides;
  for (const Setting& setting : gatehouse::config::settings()) {
    auto validate = [&setting, &overrides](const std::vector<std::string>& values) {
      Config scratch;
      for (const std::string& v : values) {
        if (auto error = setting.apply(scratch, v)) {
          throw CLI::ValidationError(setting.flag(), *error);
        }
      }
      overrides.emplace_back(&setting, values);
    };
    auto* option =
        app.add_option_function<std::vector<std::string>>(setting.flag(), validate, setting.help);
    if (setting.repeated) {
      option->type_name("VALUE")->allow_extra_args(false)->multi_option_policy(
          CLI::MultiOptionPolicy::TakeAll);
    } else {
      option->type_name("VALUE")->expected(1)->multi_option_policy(
          CLI::MultiOptionPolicy::TakeLast);
    }
  }
  gatehouse::probe::Options probeOptions;
  CLI::App* probe = gatehouse::probe::addCommand(app, probeOptions);
  CLI11_PARSE(app, argc, argv);
  if (probe->parsed()) {
    return gatehouse::probe::runProbe(probeOptions);
  }

  // The file, then the flags over it, then cross-setting checks: at start and on every SIGHUP.
  auto loadConfig = [&]() {
    Config config;
    if (!configPath.empty()) {
      gatehouse::config::loadFile(configPath, config);
    }
    for (auto& [setting, values] : overrides) {
      if (setting->repeated) {
        setting->clear(config);
      }
      for (const std::string& v : values) {
        setting->apply(config, v);
      }
    }
    gatehouse::config::validate(config);
    return config;
  };

  // --check --explain asks the rules a question: the config and its compiled policy are
  // enough, so it also answers on a machine without the files a start reads.
  const bool explainOnly = checkOnly && !explainQuery.empty();
  // Everything a start loads is loaded here, once, for --check and for the start alike: a
  // configuration passes --check exactly when the start would get past loading it.
  GenerationPtr generation;
  std::shared_ptr<const gatehouse::policy::EgressPolicy> policy;
  try {
    Config config = loadConfig();
    if (explainOnly) {
      policy = gatehouse::policy::EgressPolicy::compile(config);
      if (auto problem = gatehouse::policy::openProxyProblem(config)) {
        throw ConfigError(*problem);
      }
    } else {
      std::vector<std::string> problems = gatehouse::proxy::checkWritablePaths(config);
      if (!problems.empty()) {
        throw std::runtime_error(problems.front());
      }
      generation = gatehouse::proxy::loadGeneration(std::move(config));
      policy = generation->egressPolicy;
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "gatehouse: configuration error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gatehouse: configuration error: %s\n", e.what());
    return 1;
  }
  if (explainOnly) {
    std::string error;
    auto query = gatehouse::policy::parseExplainQuery(explainQuery, error);
    if (!query) {
      std::fprintf(stderr, "gatehouse: --explain: %s\n", error.c_str());
      return 1;
    }
    bool denied = false;
    std::string text = gatehouse::policy::explain(*policy, *query, denied);
    std::fputs(text.c_str(), stdout);
    return denied ? 2 : 0;
  }
  const Config& startConfig = *generation->config;
  if (checkOnly) {
    std::printf("gatehouse: configuration %s is valid\n",
                configPath.empty() ? "(defaults and flags)" : configPath.c_str());
    std::printf("gatehouse: egress policy: %s\n", policy->summary().c_str());
    return 0;
  }

  try {
    gatehouse::log::setup(startConfig.logLevel, startConfig.accessLog);
    gatehouse::log::setAccessFormat(
        *gatehouse::log::parseAccessFormat(startConfig.accessLogFormat));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gatehouse: %s\n", e.what());
    return 1;
  }
  auto& log = gatehouse::log::diag();

  // Workers inherit this mask; the main thread takes signals with sigwait().
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  raiseFileLimit(startConfig, log);

  gatehouse::proxy::Server server(generation);
  try {
    server.start();
  } catch (const std::exception& e) {
    log.error("cannot start: {}", e.what());
    return 1;
  }
  // The admin listener reads the workers' telemetry on its own loop thread (off by default).
  // It keeps the start-up configuration (admin keys need a restart; `generation` holds it).
  std::unique_ptr<gatehouse::admin::AdminServer> admin;
  if (!startConfig.adminListen.empty()) {
    admin = std::make_unique<gatehouse::admin::AdminServer>(startConfig, server);
    try {
      admin->start();
    } catch (const std::exception& e) {
      log.error("cannot start the admin listener: {}", e.what());
      server.stop();
      return 1;
    }
    log.info("admin listener on {} (/healthz /readyz /metrics /proxy.pac, live view at /){}",
             admin->boundAddress().toString(),
             startConfig.adminAuthFile.empty() ? ""
                                               : ", Basic auth from " + startConfig.adminAuthFile);
  }
  logStarted(server, log);
  notifySystemd("READY=1\nSTATUS=accepting connections");

  auto reportReload = [&](const std::string& message) {
    if (message.empty()) {
      return;
    }
    log.info("{}", message);
    if (auto* store = server.authStore()) {
      for (const std::string& warning : store->lastWarnings()) {
        log.warn("{}", warning);
      }
    }
  };
  uint64_t nextGeneration = 2;
  int signal = 0;
  while (true) {
    // Wake every 2 s to notice a changed user file even without SIGHUP.
    timespec interval{2, 0};
    signal = sigtimedwait(&signals, nullptr, &interval);
    if (signal < 0) {
      if (auto* store = server.authStore()) {
        reportReload(store->reloadIfChanged());
      }
      continue;
    }
    if (signal == SIGUSR1) {
      log.info("{}", gatehouse::log::reopenFiles());
      continue;
    }
    if (signal == SIGHUP) {
      notifySystemd("RELOADING=1");
      reloadConfiguration(server, loadConfig, nextGeneration, log);
      notifySystemd("READY=1");
      continue;
    }
    break;
  }
  // Load balancers see /readyz turn 503 as soon as the drain starts.
  if (admin) {
    admin->setDraining(true);
  }
  drain(server, signals, signal == SIGINT ? "SIGINT" : "SIGTERM", log);
  if (admin) {
    admin->stop();
  }
  server.stop();
  log.info("stopped");
  return 0;
}
