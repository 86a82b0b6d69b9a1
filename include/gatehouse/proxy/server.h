#pragma once
// The whole proxy: binds the listening sockets, runs one Worker per thread, hands them new
// configuration generations on reload, drains and stops them.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/generation.h"
#include "gatehouse/proxy/telemetry.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::auth {
class AuthStore;
} // namespace gatehouse::auth

namespace gatehouse::proxy {

class Worker;

class Server {
public:
  // Loads the generation (files named by the config) at start(); throws there when it fails.
  explicit Server(config::Config config);
  // Starts from a generation already loaded (main loads it once for --check and start alike).
  explicit Server(GenerationPtr generation);
  ~Server();
  // Binds every listen address (port 0 picks one, shared by all workers) and starts the
  // workers. Throws std::runtime_error naming the address or file when it fails.
  void start();
  // Stops and joins every worker; idempotent.
  void stop();
  // Replaces the configuration: new listen addresses are bound first (a failure refuses the
  // whole reload and throws std::runtime_error; the old generation stays), then every worker
  // adopts `next` for new connections, then listeners no longer configured close. Call from
  // one thread (main).
  void reload(GenerationPtr next);
  // Stops accepting (listening sockets close, so new connections are refused) and lets each
  // worker stop once its connections are gone. stop() afterwards cuts what is left.
  void beginDrain();
  // True once every worker's loop returned (after a drain).
  bool allWorkersFinished() const {
    return finishedWorkers_.load() == static_cast<unsigned>(threads_.size());
  }
  // Client connections open across workers.
  size_t openConnections() const;
  // The addresses actually bound, in listen order (main thread; others read published()).
  const std::vector<uv::SocketAddress>& boundAddresses() const { return bound_; }
  // What other threads (the admin listener) read while a reload may be replacing it: the
  // configuration in place and the plain listeners' addresses, swapped as one.
  struct Published {
    std::shared_ptr<const config::Config> config;
    std::vector<uv::SocketAddress> bound;
  };
  std::shared_ptr<const Published> published() const { return published_.load(); }
  const std::string& pseudonym() const { return pseudonym_; }
  const SharedCounters& counters() const { return counters_; }
  const config::Config& config() const { return *generation_->config; }
  const GenerationPtr& generation() const { return generation_; }
  // The addresses of the TLS listeners actually bound.
  const std::vector<uv::SocketAddress>& boundTlsAddresses() const { return boundTls_; }
  // Re-reads the TLS listener's certificate and key; a line for the log ("" without TLS).
  std::string reloadTls();
  // Proxy authentication's shared state (of the current generation); null when open.
  auth::AuthStore* authStore() const;
  // Each worker's metrics and recent exchanges: one per worker, living as long as the worker
  // across generations (created by start(), kept after stop()).
  const std::vector<std::unique_ptr<WorkerTelemetry>>& telemetry() const { return telemetry_; }

private:
  // One bound listening socket per worker for one configured listener.
  struct BoundListener {
    uint64_t id;
    std::string spec; // the configured text, "127.0.0.1:3128 proxy_protocol"
    bool tls;
    bool proxyProtocol;
    uv::SocketAddress address; // as bound (the real port after port 0)
    std::vector<int> fds;      // one per worker
  };
  // Binds what `config` lists, reusing entries of `bound_` with the same spec; throws.
  std::vector<BoundListener> bindListeners(const config::Config& config,
                                           std::vector<BoundListener>& reused);
  void publishAddresses();
  // `generation` with its egress policy compiled against the addresses now bound.
  GenerationPtr withBoundPolicy(const GenerationPtr& generation) const;
  std::string pseudonymFor(const config::Config& config) const;

  std::unique_ptr<config::Config> pendingConfig_; // Server(Config): loaded by start()
  GenerationPtr generation_;
  SharedCounters counters_;
  std::string pseudonym_;
  unsigned workerCount_ = 0;
  uint64_t nextListenerId_ = 1;
  std::vector<BoundListener> listeners_;
  std::vector<uv::SocketAddress> bound_;
  std::vector<uv::SocketAddress> boundTls_;
  std::vector<std::unique_ptr<WorkerTelemetry>> telemetry_; // outlives the workers
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> finishedWorkers_{0};
  std::atomic<std::shared_ptr<const Published>> published_;
};

} // namespace gatehouse::proxy
