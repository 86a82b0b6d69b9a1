#pragma once
// What every connection of one worker loop shares.

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "gatehouse/config/config.h"
#include "gatehouse/http/parser.h"

namespace gatehouse::uv {
class Loop;
class Resolver;
} // namespace gatehouse::uv

#include "gatehouse/tls/tls.h"

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
  // The HTTPS listener's certificate (null without one) and the context for TLS origins.
  tls::ServerContextHolder* tlsServer = nullptr;
  tls::ContextPtr upstreamTls;
  // Metrics, recent exchanges and the diagnostic limiter of this worker (owned by the Server).
  WorkerTelemetry* telemetry = nullptr;
  uint64_t nextConnectionId = 1;
  // Live client connections, closed on shutdown.
  std::unordered_set<ClientConnection*> connections;
  bool stopping = false;
};

} // namespace gatehouse::proxy
