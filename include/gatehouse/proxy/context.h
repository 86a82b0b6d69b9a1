#pragma once
// What every connection of one worker loop shares.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/connection_table.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::uv {
class Loop;
class Resolver;
} // namespace gatehouse::uv
namespace gatehouse::auth {
class Authenticator;
} // namespace gatehouse::auth
namespace gatehouse::policy {
class PolicyChain;
} // namespace gatehouse::policy

namespace gatehouse::proxy {

class UpstreamPool;
class ClientConnection;
class WorkerTelemetry;

// Counters shared by all workers (relaxed atomics: they are statistics and limits).
struct SharedCounters {
  std::atomic<uint64_t> clientConnections{0};
  std::atomic<uint64_t> upstreamConnectsOpened{0};
  std::atomic<uint64_t> upstreamReuses{0};
  std::atomic<uint64_t> splicedTunnels{0};   // tunnels that switched to splice(2)
  std::atomic<uint64_t> splicedBodyBytes{0}; // response body bytes moved by splice(2)
  std::atomic<uint64_t> exchangeSequence{0}; // orders the live view's exchanges across workers
};

// A parent proxy requests can be sent through (from a [[parent]] table).
struct ParentRoute {
  std::string name;
  http::Authority address;
  std::string authorization; // "Basic ..." for Proxy-Authorization, or empty
  ~ParentRoute();            // wipes the credentials
};

// One per worker loop; connections hold a reference, never a copy.
struct WorkerContext {
  const config::Config& config;
  uv::Loop& loop;
  uv::Resolver& resolver;
  UpstreamPool& pool;
  SharedCounters& counters;
  std::string pseudonym;
  unsigned workerIndex = 0;
  http::ParserLimits requestLimits;
  http::ParserLimits responseLimits;
  // Proxy authentication; null when the proxy is open.
  auth::Authenticator* authenticator = nullptr;
  // The request-policy chain every request head passes (never null once the worker runs).
  policy::PolicyChain* policy = nullptr;
  // Parent proxies by name, and the one every request goes through unless its rule says
  // otherwise (empty: direct).
  std::vector<ParentRoute> parents{};
  std::string defaultParent{};
  const ParentRoute* parent(std::string_view name) const {
    for (const ParentRoute& p : parents) {
      if (p.name == name) {
        return &p;
      }
    }
    return nullptr;
  }
  // The HTTPS listener's certificate (null without one) and the context for TLS origins.
  tls::ServerContextHolder* tlsServer = nullptr;
  tls::ContextPtr upstreamTls{};
  // Metrics, recent exchanges and the diagnostic limiter of this worker (owned by the Server).
  WorkerTelemetry* telemetry = nullptr;
  uint64_t nextConnectionId = 1;
  // Live client connections, closed on shutdown.
  ConnectionTable connections{};
  // Set when the worker closes (upstream connections then stay out of the shared pool) and
  // when a reload retires this context.
  bool stopping = false;
  // Set on a context a reload retired: the one now in place, which its connections move to
  // between requests (the worker keeps it pointing at the newest).
  WorkerContext* successor = nullptr;
  // SIGTERM: the proxy no longer accepts and exits once connections are gone. A connection
  // should answer its next response with Connection: close and close when idle.
  bool draining = false;
};

} // namespace gatehouse::proxy
