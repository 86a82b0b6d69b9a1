#pragma once
// One event loop on its own thread: its accepting sockets, its connections, its DNS channel
// and upstream pool. Workers share nothing but the immutable config and atomic counters.

#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::uv {
class Acceptor;
} // namespace gatehouse::uv

namespace gatehouse::auth {
class AuthStore;
class Authenticator;
} // namespace gatehouse::auth

namespace gatehouse::policy {
class PolicyChain;
} // namespace gatehouse::policy

namespace gatehouse::proxy {

class WorkerTelemetry;

class Worker final : private uv::TimerHandler {
public:
  // A listening socket and whether it speaks TLS to clients.
  struct Listener {
    int fd;
    bool tls;
  };
  // `tlsServer` and `upstreamTls` are shared by all workers.
  Worker(const config::Config& config, SharedCounters& counters, std::vector<Listener> listeners,
         unsigned index, std::string pseudonym, auth::AuthStore* authStore,
         tls::ServerContextHolder* tlsServer, tls::ContextPtr upstreamTls,
         WorkerTelemetry* telemetry = nullptr);
  ~Worker();
  // Runs the loop until requestStop(); call on the worker's own thread.
  void run();
  // Thread-safe: closes listeners and connections, then run() returns.
  void requestStop();

private:
  void stopOnLoop();
  // Once a second: summarises diagnostic lines the limiter held back.
  void onTimer(uv::Timer& timer) override;

  const config::Config& config_;
  std::vector<Listener> listeners_;
  std::unique_ptr<uv::Loop> loop_;
  std::unique_ptr<uv::Resolver> resolver_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<policy::PolicyChain> policy_;
  std::unique_ptr<WorkerContext> context_;
  std::vector<uv::Acceptor*> acceptors_;
  WorkerTelemetry* telemetry_;
  uv::Timer* flushTimer_ = nullptr;
};

} // namespace gatehouse::proxy
