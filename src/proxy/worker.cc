#include "gatehouse/proxy/worker.h"

#include <algorithm>
#include <vector>

#include "gatehouse/auth/authenticator.h"
#include "gatehouse/log/log.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/client_connection.h"
#include "gatehouse/proxy/egress.h"
#include "gatehouse/proxy/proxy_protocol_reader.h"
#include "gatehouse/proxy/telemetry.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/uv/listen_socket.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/resolver.h"
#include "gatehouse/uv/tcp.h"

namespace gatehouse::proxy {

namespace {
// Retired generations and the drain are checked this often.
constexpr uint64_t kSweepMs = 100;
// A retired generation is freed after this many sweeps without connections: upstream
// connections it created close a loop iteration after their client (they read its context).
constexpr int kEmptySweepsBeforeFree = 3;
// The limiter's summaries of held-back diagnostic lines are written this often.
constexpr uint64_t kFlushIntervalMs = 1000;
} // namespace

Worker::Worker(GenerationPtr generation, SharedCounters& counters, std::vector<Listener> listeners,
               unsigned index, std::string pseudonym, WorkerTelemetry* telemetry)
    : counters_(counters), index_(index), initialListeners_(std::move(listeners)),
      loop_(std::make_unique<uv::Loop>()), telemetry_(telemetry) {
  // DNS settings are fixed for the life of the worker (a reload logs that they need a restart).
  uv::Resolver::Options dns;
  const config::Config& config = *generation->config;
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
  proxyReaders_ = std::make_unique<ProxyHeaderReaders>(
      *loop_, generation->config->requestHeadTimeoutMs, generation->config->maxConnections);
  current_ = makeEpoch(std::move(generation), std::move(pseudonym), 1);
}

Worker::~Worker() = default;

void Worker::Epoch::closeAuthenticator() {
  if (authenticator) {
    authenticator->close();
  }
}

std::unique_ptr<Worker::Epoch> Worker::makeEpoch(GenerationPtr generation, std::string pseudonym,
                                                 uint64_t nextConnectionId) {
  auto epoch = std::make_unique<Epoch>();
  const config::Config& config = *generation->config;
  http::ParserLimits request;
  request.head.maxHeadBytes = config.maxHeadSize;
  request.head.maxFields = config.maxHeaderFields;
  request.head.maxStartLine = config.maxTargetLength + 32;
  request.maxTargetLength = config.maxTargetLength;
  http::ParserLimits response; // upstream heads: generous but bounded
  response.head.maxHeadBytes = 64 * 1024;
  response.head.maxFields = 500;
  epoch->context = std::make_unique<WorkerContext>(WorkerContext{.config = config,
                                                                 .loop = *loop_,
                                                                 .resolver = *resolver_,
                                                                 .pool = *pool_,
                                                                 .counters = counters_,
                                                                 .pseudonym = std::move(pseudonym),
                                                                 .workerIndex = index_,
                                                                 .requestLimits = request,
                                                                 .responseLimits = response,
                                                                 .connections = {}});
  WorkerContext& context = *epoch->context;
  context.nextConnectionId = nextConnectionId;
  context.tlsServer = generation->tlsServer.get();
  context.upstreamTls = generation->upstreamTls;
  context.draining = draining_;
  if (generation->authStore) {
    if (current_ && current_->generation->authStore == generation->authStore) {
      epoch->authenticator = current_->authenticator;
    } else {
      epoch->authenticator = std::make_shared<auth::Authenticator>(*loop_, *generation->authStore);
      if (telemetry_ != nullptr) {
        epoch->authenticator->countCacheHitsIn(&telemetry_->authCacheHits());
      }
    }
    context.authenticator = epoch->authenticator.get();
  }
  context.telemetry = telemetry_;
  policy::StandardPolicyOptions checks;
  checks.requireClientCertificate = !config.tlsClientCa.empty();
  checks.clientCertificateAuth = config.tlsClientCertAuth;
  checks.realm = config.realm;
  checks.allowTrace = config.allowTrace;
  checks.pseudonym = context.pseudonym;
  checks.connectPortAllowed = [&config](uint16_t port) { return config.connectPorts.allows(port); };
  checks.connectPortsDescription = [&config] { return config.connectPorts.toString(); };
  checks.authenticator = context.authenticator;
  checks.clock = [loop = loop_.get()] { return loop->now(); };
  checks.egress = generation->egressPolicy;
  checks.groups = epoch->authenticator ? epoch->authenticator->groups() : nullptr;
  context.parents = parentRoutes(config);
  context.defaultParent = config.upstreamProxy;
  epoch->policy = std::make_unique<policy::PolicyChain>();
  policy::addStandardSteps(*epoch->policy, checks);
  context.policy = epoch->policy.get();
  epoch->generation = std::move(generation);
  return epoch;
}

void Worker::run() {
  setCurrentTelemetry(telemetry_); // ExchangeRecord::finish() reports to it on this thread
  loop_->setStopHandler([this] { stopOnLoop(); });
  if (telemetry_ != nullptr) {
    flushTimer_ = uv::Timer::create(*loop_, this);
    flushTimer_->start(kFlushIntervalMs);
  }
  sweepTimer_ = uv::Timer::create(*loop_, this);
  sweepTimer_->start(kSweepMs);
  setListenersOnLoop(std::move(initialListeners_));
  loop_->run();
  if (telemetry_ != nullptr) {
    telemetry_->flushSuppressed(loop_->now(), true);
  }
  setCurrentTelemetry(nullptr);
}

void Worker::requestStop() {
  loop_->requestStop();
}

void Worker::adopt(GenerationPtr generation, std::string pseudonym) {
  loop_->post([this, generation = std::move(generation), pseudonym = std::move(pseudonym)] {
    adoptOnLoop(generation, pseudonym);
  });
}

namespace {
// Runs `task` on `loop`; the future is ready once it ran, or at once if the loop stopped (a
// stopped loop drops its tasks, which breaks the promise: that too makes the future ready).
std::future<void> postAndSignal(uv::Loop& loop, std::function<void()> task) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> future = done->get_future();
  if (!loop.post([task = std::move(task), done] {
        task();
        done->set_value();
      })) {
    done->set_value();
  }
  return future;
}
} // namespace

std::future<void> Worker::setListeners(std::vector<Listener> listeners) {
  return postAndSignal(*loop_,
                       [this, listeners = std::move(listeners)] { setListenersOnLoop(listeners); });
}

std::future<void> Worker::drain() {
  return postAndSignal(*loop_, [this] { drainOnLoop(); });
}

void Worker::adoptOnLoop(GenerationPtr generation, std::string pseudonym) {
  if (stopped_) {
    return;
  }
  auto next =
      makeEpoch(std::move(generation), std::move(pseudonym), current_->context->nextConnectionId);
  // Upstream connections of the old generation must not return to the shared pool (they
  // hold its context); idle ones close now and are reopened under the new settings.
  current_->context->stopping = true;
  pool_->closeAll();
  retired_.push_back(std::move(current_));
  current_ = std::move(next);
  // Every retired context points at the newest, so a connection moving on never lands on one
  // that is about to be freed (a retired context is freed only once it has no connections).
  for (auto& epoch : retired_) {
    epoch->context->successor = current_->context.get();
  }
  proxyReaders_->setTimeoutMs(current_->generation->config->requestHeadTimeoutMs);
}

void Worker::setListenersOnLoop(std::vector<Listener> listeners) {
  if (stopped_ || draining_) {
    return;
  }
  // Open the new ones first, so no address is ever without an accepting socket.
  for (const Listener& listener : listeners) {
    bool known = std::any_of(acceptors_.begin(), acceptors_.end(),
                             [&](const Accepting& a) { return a.id == listener.id; });
    if (known) {
      continue;
    }
    try {
      uv::Acceptor* acceptor =
          uv::Acceptor::create(*loop_, listener.fd,
                               [this, tls = listener.tls, proxyProtocol = listener.proxyProtocol](
                                   uv::TcpStream* stream, int status) {
                                 if (stream == nullptr) {
                                   log::diag().warn("accept failed: {}", uv::errorName(status));
                                   return;
                                 }
                                 if (!proxyProtocol) {
                                   ClientConnection::start(*current_->context, stream, tls);
                                   return;
                                 }
                                 // The header first; the connection starts under the generation
                                 // current then.
                                 proxyReaders_->start(stream, [this, tls](uv::TcpStream* ready) {
                                   ClientConnection::start(*current_->context, ready, tls);
                                 });
                               });
      acceptors_.push_back({listener.id, acceptor});
    } catch (const std::exception& e) {
      log::diag().error("worker {}: {}", index_, e.what());
    }
  }
  auto gone = std::stable_partition(acceptors_.begin(), acceptors_.end(), [&](const Accepting& a) {
    return std::any_of(listeners.begin(), listeners.end(),
                       [&](const Listener& l) { return l.id == a.id; });
  });
  for (auto it = gone; it != acceptors_.end(); ++it) {
    it->acceptor->close();
  }
  acceptors_.erase(gone, acceptors_.end());
}

void Worker::drainOnLoop() {
  if (stopped_ || draining_) {
    return;
  }
  draining_ = true;
  for (Accepting& a : acceptors_) {
    a.acceptor->close();
  }
  acceptors_.clear();
  proxyReaders_->closeAll(); // no request yet on these: nothing to finish
  current_->context->draining = true;
  for (auto& epoch : retired_) {
    epoch->context->draining = true;
  }
  sweep(); // closes idle keep-alive connections; stops at once when nothing is open
}

void Worker::drainConnections() {
  std::vector<WorkerContext*> contexts{current_->context.get()};
  for (auto& epoch : retired_) {
    contexts.push_back(epoch->context.get());
  }
  for (WorkerContext* context : contexts) {
    // Copy: a connection that closes leaves the set.
    std::vector<ClientConnection*> live = context->connections.snapshot();
    for (ClientConnection* conn : live) {
      conn->drain();
    }
  }
}

size_t Worker::countConnections() const {
  size_t open = current_->context->connections.size();
  for (const auto& epoch : retired_) {
    open += epoch->context->connections.size();
  }
  return open;
}

void Worker::sweep() {
  if (draining_) {
    drainConnections(); // those that finished an exchange since are idle now
  }
  for (auto it = retired_.begin(); it != retired_.end();) {
    Epoch& epoch = **it;
    epoch.emptySweeps = epoch.context->connections.empty() ? epoch.emptySweeps + 1 : 0;
    if (epoch.emptySweeps >= kEmptySweepsBeforeFree) {
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
  if (draining_ && countConnections() == 0) {
    loop_->stop(); // runs stopOnLoop()
  }
}

void Worker::onTimer(uv::Timer& timer) {
  if (&timer == flushTimer_) {
    telemetry_->flushSuppressed(loop_->now());
    timer.start(kFlushIntervalMs);
    return;
  }
  sweep();
  if (!stopped_) {
    timer.start(kSweepMs);
  }
}

void Worker::stopOnLoop() {
  stopped_ = true;
  if (sweepTimer_ != nullptr) {
    sweepTimer_->close();
    sweepTimer_ = nullptr;
  }
  if (flushTimer_ != nullptr) {
    flushTimer_->close();
    flushTimer_ = nullptr;
  }
  for (Accepting& a : acceptors_) {
    a.acceptor->close();
  }
  acceptors_.clear();
  std::vector<WorkerContext*> contexts{current_->context.get()};
  for (auto& epoch : retired_) {
    contexts.push_back(epoch->context.get());
  }
  for (WorkerContext* context : contexts) {
    context->stopping = true;
    // Copy: shutdown() removes each connection from the set.
    std::vector<ClientConnection*> live = context->connections.snapshot();
    for (ClientConnection* conn : live) {
      conn->shutdown();
    }
  }
  proxyReaders_->closeAll();
  pool_->closeAll();
  resolver_->close();
  // Kills helper processes, whose handles would keep the loop up.
  current_->closeAuthenticator();
  for (auto& epoch : retired_) {
    epoch->closeAuthenticator();
  }
}

} // namespace gatehouse::proxy
