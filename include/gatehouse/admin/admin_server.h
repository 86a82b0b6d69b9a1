#pragma once
// The admin listener (admin_listen): a small HTTP/1.1 server on its own libuv loop and thread,
// so a slow scrape or a browser polling the live view never delays a worker, and the workers
// never know it exists (it only reads their telemetry). One request per connection
// (Connection: close); GET and HEAD only; no request bodies.
//   /healthz   200 while the process runs
//   /readyz    200, or 503 while draining (setDraining)
//   /metrics   Prometheus text format
//   /proxy.pac proxy auto-config
//   /          live view (/live.css, /live.js, /api/exchanges?since=N, /api/exchange/<id>,
//              /exchange/<id>)
// With admin_auth_file every path but /healthz and /readyz needs Basic credentials.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::proxy {
class Server;
}
namespace gatehouse::auth {
struct UserTable;
}

namespace gatehouse::admin {

// What the admin listener answers to one request.
struct AdminReply {
  int status = 200;
  std::string contentType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> fields; // extra header fields
};

class AdminServer {
public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr uint64_t kRequestTimeoutMs = 10'000;
  static constexpr size_t kMaxHeadBytes = 16 * 1024;

  // `proxy` must be started and outlive this.
  AdminServer(const config::Config& config, const proxy::Server& proxy);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Loads admin_auth_file and binds admin_listen (port 0 picks one), then runs the loop on its
  // own thread. Throws std::runtime_error naming the file or address (start-up only).
  void start();
  // Stops the loop and joins the thread; idempotent.
  void stop();
  uv::SocketAddress boundAddress() const { return bound_; }

  // Readiness for load balancers: /readyz answers 503 while draining.
  void setDraining(bool draining) { draining_.store(draining, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // Answers one request. Called on the admin thread (its auth memo is not shared).
  AdminReply handle(std::string_view method, std::string_view target,
                    std::optional<std::string_view> authorization);

  struct Runtime; // the loop-side state (admin_server.cc)

private:
  bool authorized(std::optional<std::string_view> authorization);

  const config::Config& config_;
  const proxy::Server& proxy_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<const auth::UserTable> users_; // null: no admin auth
  std::string lastAccepted_; // the last Authorization value that verified (admin thread only)
  uint64_t lastAcceptedUntil_ = 0;
  int fd_ = -1;
  uv::SocketAddress bound_;
  std::unique_ptr<Runtime> runtime_;
  std::thread thread_;
};

} // namespace gatehouse::admin
