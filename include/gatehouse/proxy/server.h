#pragma once
// The whole proxy: binds the listening sockets, runs one Worker per thread, stops them.

#include <memory>
#include <thread>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/telemetry.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::auth {
class AuthStore;
} // namespace gatehouse::auth

namespace gatehouse::proxy {

class Worker;

class Server {
public:
  explicit Server(config::Config config);
  ~Server();
  // Binds every listen address (port 0 picks one, shared by all workers) and starts the
  // workers. Throws std::runtime_error naming the address when binding fails.
  void start();
  // Stops and joins every worker; idempotent.
  void stop();
  // The addresses actually bound, in listen order.
  const std::vector<uv::SocketAddress>& boundAddresses() const { return bound_; }
  const std::string& pseudonym() const { return pseudonym_; }
  const SharedCounters& counters() const { return counters_; }
  const config::Config& config() const { return config_; }
  // The addresses of the TLS listeners actually bound.
  const std::vector<uv::SocketAddress>& boundTlsAddresses() const { return boundTls_; }
  // Re-reads the TLS listener's certificate and key; a line for the log ("" without TLS).
  std::string reloadTls();
  // Proxy authentication's shared state; null when the proxy is open.
  auth::AuthStore* authStore() const { return authStore_.get(); }
  // Each worker's metrics and recent exchanges (created by start(), kept after stop()).
  const std::vector<std::unique_ptr<WorkerTelemetry>>& telemetry() const { return telemetry_; }

private:
  config::Config config_;
  SharedCounters counters_;
  std::string pseudonym_;
  std::unique_ptr<auth::AuthStore> authStore_;
  std::vector<uv::SocketAddress> bound_;
  std::vector<uv::SocketAddress> boundTls_;
  std::unique_ptr<tls::ServerContextHolder> tlsServer_;
  tls::ContextPtr upstreamTls_;
  std::vector<int> fds_;
  std::vector<std::unique_ptr<WorkerTelemetry>> telemetry_; // outlives the workers
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

} // namespace gatehouse::proxy
