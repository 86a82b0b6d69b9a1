#include "gatehouse/proxy/worker.h"

#include <algorithm>
#include <vector>

#include "gatehouse/auth/authenticator.h"
#include "gatehouse/log/log.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/client_connection.h"
#include "gatehouse/proxy/telemetry.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/uv/listen_socket.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/resolver.h"
#include "gatehouse/uv/tcp.h"

namespace gatehouse::proxy {

namespace {
constexpr uint64_t kFlushIntervalMs = 1000;
} // namespace

Worker::Worker(const config::Config& config, SharedCounters& counters,
               std::vector<Listener> listeners, unsigned index, std::string pseudonym,
               auth::AuthStore* authStore, tls::ServerContextHolder* tlsServer,
               tls::ContextPtr upstreamTls, WorkerTelemetry* telemetry)
    : config_(config), listeners_(std::move(listeners)), loop_(std::make_unique<uv::Loop>()),
      telemetry_(telemetry) {
  uv::Resolver::Options dns;
  dns.timeoutMs = config.dnsTimeoutMs;
  dns.servers = config.dnsServers;
  if (telemetry != nullptr) {
    dns.cacheHits = &telemetry->dnsCacheHits();
    dns.lookups = &telemetry->dnsLookups();
  }
  dns.cache.maxEntries = static_cast<size_t>(config.dnsCacheSize);
  // Names that do not resolve get a quarter of that, so a flood of them cannot push out the
  // names that work.
  dns.cache.maxNegativeEntries =
      config.dnsCacheSize == 0 ? 0 : std::max<size_t>(1, config.dnsCacheSize / 4);
  dns.cache.negativeTtlMs = config.dnsNegativeTtlMs;
  resolver_ = std::make_unique<uv::Resolver>(*loop_, dns);
  pool_ = std::make_unique<UpstreamPool>();
  http::ParserLimits request;
  request.head.maxHeadBytes = config.maxHeadSize;
  request.head.maxFields = config.maxHeaderFields;
  request.head.maxStartLine = config.maxTargetLength + 32;
  request.maxTargetLength = config.maxTargetLength;
  http::ParserLimits response; // upstream heads: generous but bounded
  response.head.maxHeadBytes = 64 * 1024;
  response.head.maxFields = 500;
  context_ = std::make_unique<WorkerContext>(WorkerContext{.config = config,
                                                           .loop = *loop_,
                                                           .resolver = *resolver_,
                                                           .pool = *pool_,
                                                           .counters = counters,
                                                           .pseudonym = std::move(pseudonym),
                                                           .workerIndex = index,
                                                           .requestLimits = request,
                                                           .responseLimits = response,
                                                           .connections = {}});
  context_->tlsServer = tlsServer;
  context_->upstreamTls = std::move(upstreamTls);
  if (authStore != nullptr) {
    authenticator_ = std::make_unique<auth::Authenticator>(*loop_, *authStore);
    context_->authenticator = authenticator_.get();
    if (telemetry != nullptr) {
      authenticator_->countCacheHitsIn(&telemetry->authCacheHits());
    }
  }
  context_->telemetry = telemetry;
  policy::StandardPolicyOptions checks;
  checks.requireClientCertificate = !config.tlsClientCa.empty();
  checks.clientCertificateAuth = config.tlsClientCertAuth;
  checks.realm = config.realm;
  checks.allowTrace = config.allowTrace;
  checks.pseudonym = context_->pseudonym;
  checks.connectPortAllowed = [&config](uint16_t port) { return config.connectPorts.allows(port); };
  checks.connectPortsDescription = [&config] { return config.connectPorts.toString(); };
  checks.authenticator = context_->authenticator;
  checks.clock = [loop = loop_.get()] { return loop->now(); };
  policy_ = std::make_unique<policy::PolicyChain>();
  policy::addStandardSteps(*policy_, checks);
  context_->policy = policy_.get();
}

Worker::~Worker() = default;

void Worker::run() {
  setCurrentTelemetry(telemetry_); // ExchangeRecord::finish() reports to it on this thread
  loop_->setStopHandler([this] { stopOnLoop(); });
  if (telemetry_ != nullptr) {
    flushTimer_ = uv::Timer::create(*loop_, this);
    flushTimer_->start(kFlushIntervalMs);
  }
  for (Listener listener : listeners_) {
    acceptors_.push_back(uv::Acceptor::create(
        *loop_, listener.fd, [this, tls = listener.tls](uv::TcpStream* stream, int status) {
          if (stream == nullptr) {
            log::diag().warn("accept failed: {}", uv::errorName(status));
            return;
          }
          ClientConnection::start(*context_, stream, tls);
        }));
  }
  loop_->run();
  if (telemetry_ != nullptr) {
    telemetry_->flushSuppressed(loop_->now(), true);
  }
  setCurrentTelemetry(nullptr);
}

void Worker::onTimer(uv::Timer& timer) {
  telemetry_->flushSuppressed(loop_->now());
  timer.start(kFlushIntervalMs);
}

void Worker::requestStop() {
  loop_->requestStop();
}

void Worker::stopOnLoop() {
  context_->stopping = true;
  for (uv::Acceptor* acceptor : acceptors_) {
    acceptor->close();
  }
  acceptors_.clear();
  if (flushTimer_ != nullptr) {
    flushTimer_->close();
    flushTimer_ = nullptr;
  }
  // Copy: shutdown() removes each connection from the set.
  std::vector<ClientConnection*> live(context_->connections.begin(), context_->connections.end());
  for (ClientConnection* conn : live) {
    conn->shutdown();
  }
  pool_->closeAll();
  resolver_->close();
  if (authenticator_) {
    authenticator_->close(); // kills helper processes, whose handles would keep the loop up
  }
}

} // namespace gatehouse::proxy
