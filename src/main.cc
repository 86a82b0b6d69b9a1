// gatehouse: a forward HTTP proxy. Parses the command line and config file, starts the
// workers, and turns signals into reload and shutdown.

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <string>
#include <vector>

#include "gatehouse/admin/admin_server.h"
#include "gatehouse/auth/user_file.h"
#include "gatehouse/config/config.h"
#include "gatehouse/config/duration.h"
#include "gatehouse/log/log.h"
#include "gatehouse/policy/explain.h"
#include "gatehouse/policy/rules.h"
#include "gatehouse/probe/command.h"
#include "gatehouse/proxy/server.h"

using gatehouse::config::Config;
using gatehouse::config::ConfigError;
using gatehouse::config::Setting;

int main(int argc, char** argv) {
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

  Config config;
  std::shared_ptr<const gatehouse::policy::EgressPolicy> policy;
  try {
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
    policy = gatehouse::policy::EgressPolicy::compile(config);
    if (auto problem = gatehouse::policy::openProxyProblem(config)) {
      throw ConfigError(*problem);
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "gatehouse: configuration error: %s\n", e.what());
    return 1;
  }
  if (checkOnly && !explainQuery.empty()) {
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
  if (checkOnly) {
    std::printf("gatehouse: configuration %s is valid\n",
                configPath.empty() ? "(defaults and flags)" : configPath.c_str());
    std::printf("gatehouse: egress policy: %s\n", policy->summary().c_str());
    return 0;
  }

  try {
    gatehouse::log::setup(config.logLevel, config.accessLog);
    gatehouse::log::setAccessFormat(*gatehouse::log::parseAccessFormat(config.accessLogFormat));
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
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  gatehouse::proxy::Server server(config);
  try {
    server.start();
  } catch (const std::exception& e) {
    log.error("cannot start: {}", e.what());
    return 1;
  }
  // The admin listener reads the workers' telemetry on its own loop thread (off by default).
  std::unique_ptr<gatehouse::admin::AdminServer> admin;
  if (!config.adminListen.empty()) {
    admin = std::make_unique<gatehouse::admin::AdminServer>(server.config(), server);
    try {
      admin->start();
    } catch (const std::exception& e) {
      log.error("cannot start the admin listener: {}", e.what());
      server.stop();
      return 1;
    }
    log.info("admin listener on {} (/healthz /readyz /metrics /proxy.pac, live view at /){}",
             admin->boundAddress().toString(),
             config.adminAuthFile.empty() ? "" : ", Basic auth from " + config.adminAuthFile);
  }
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

  auto reportReload = [&](const std::string& message) {
    if (message.empty()) {
      return;
    }
    log.info("{}", message);
    for (const std::string& warning : authStore->lastWarnings()) {
      log.warn("{}", warning);
    }
  };
  while (true) {
    // Wake every 2 s to notice a changed user file even without SIGHUP.
    timespec interval{2, 0};
    int signal = sigtimedwait(&signals, nullptr, &interval);
    if (signal < 0) {
      if (authStore != nullptr) {
        reportReload(authStore->reloadIfChanged());
      }
      continue;
    }
    if (signal == SIGHUP) {
      if (authStore != nullptr) {
        reportReload(authStore->reload());
      }
      if (std::string tls = server.reloadTls(); !tls.empty()) {
        log.info("{}", tls);
      }
      if (authStore == nullptr && config.tlsListen.empty()) {
        log.info("SIGHUP: nothing to reload");
      }
      continue;
    }
    log.info("{}: shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  if (admin) {
    admin->stop();
  }
  server.stop();
  log.info("stopped");
  return 0;
}
