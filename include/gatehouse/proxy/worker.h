#pragma once
// One event loop on its own thread: its accepting sockets, its connections, its DNS channel
// and upstream pool. Workers share nothing but immutable configuration generations and atomic
// counters. A reload hands every worker a new generation: new connections get it, connections
// already open keep theirs until they close (each generation has its own WorkerContext).

#include <atomic>
#include <future>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/generation.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::uv {
class Acceptor;
} // namespace gatehouse::uv

namespace gatehouse::auth {
class Authenticator;
} // namespace gatehouse::auth

namespace gatehouse::policy {
class PolicyChain;
class EgressPolicy;
} // namespace gatehouse::policy

namespace gatehouse::proxy {

class ProxyHeaderReaders;
class WorkerTelemetry;

class Worker final : private uv::TimerHandler {
public:
  // A listening socket: `id` names it across reloads (fds can be reused once closed).
  struct Listener {
    uint64_t id;
    int fd;
    bool tls;
    bool proxyProtocol;
  };
  // `telemetry` (may be null) belongs to the Server and outlives the worker: one per worker,
  // shared by every generation it runs.
  Worker(GenerationPtr generation, SharedCounters& counters, std::vector<Listener> listeners,
         unsigned index, std::string pseudonym, WorkerTelemetry* telemetry = nullptr);
  ~Worker() override;
  // Runs the loop until it stops (requestStop(), or the end of a drain); call on the worker's
  // own thread.
  void run();
  // Thread-safe: closes listeners and connections, then run() returns.
  void requestStop();
  // Thread-safe: connections accepted from now on use `generation`.
  void adopt(GenerationPtr generation, std::string pseudonym);
  // Thread-safe: accept on exactly `listeners` from now on; new ones open before old ones
  // close. Ready once the loop has done it (or stopped): until then the caller must keep the
  // fds open, since the loop duplicates them.
  std::future<void> setListeners(std::vector<Listener> listeners);
  // Thread-safe: stop accepting, mark every connection's context draining, and stop the loop
  // once the last connection is gone. Ready once the loop stopped accepting (or stopped).
  std::future<void> drain();

private:
  // What one generation needs on this loop; retired once a newer one is adopted, freed once
  // its last connection closed.
  struct Epoch {
    GenerationPtr generation;
    // Shared with the next epoch when a reload kept the authentication store (its cache of
    // checked credentials and its helper processes carry on).
    std::shared_ptr<auth::Authenticator> authenticator;
    std::unique_ptr<policy::PolicyChain> policy;
    std::unique_ptr<WorkerContext> context;
    int emptySweeps = 0; // consecutive sweeps that found it without connections
    void closeAuthenticator();
  };
  std::unique_ptr<Epoch> makeEpoch(GenerationPtr generation, std::string pseudonym,
                                   uint64_t nextConnectionId);
  void adoptOnLoop(GenerationPtr generation, std::string pseudonym);
  void setListenersOnLoop(std::vector<Listener> listeners);
  void drainOnLoop();
  // Draining: asks every connection of every generation to close when idle.
  void drainConnections();
  void stopOnLoop();
  void sweep();
  size_t countConnections() const;
  // The sweep timer: retired generations and the drain. The flush timer, once a second:
  // summarises diagnostic lines the limiter held back.
  void onTimer(uv::Timer& timer) override;

  SharedCounters& counters_;
  unsigned index_;
  std::vector<Listener> initialListeners_;
  std::unique_ptr<uv::Loop> loop_;
  std::unique_ptr<uv::Resolver> resolver_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<ProxyHeaderReaders> proxyReaders_; // for proxy_protocol listeners
  std::unique_ptr<Epoch> current_;
  std::list<std::unique_ptr<Epoch>> retired_;
  struct Accepting {
    uint64_t id;
    uv::Acceptor* acceptor;
  };
  std::vector<Accepting> acceptors_;
  uv::Timer* sweepTimer_ = nullptr;
  bool draining_ = false;
  bool stopped_ = false;
  WorkerTelemetry* telemetry_;
  uv::Timer* flushTimer_ = nullptr;
};

} // namespace gatehouse::proxy
