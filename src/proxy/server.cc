#include "gatehouse/proxy/server.h"

#include <unistd.h>

#include "gatehouse/auth/user_file.h"
#include "gatehouse/proxy/worker.h"
#include "gatehouse/uv/listen_socket.h"

namespace gatehouse::proxy {

Server::Server(config::Config config) : config_(std::move(config)) {}

Server::~Server() {
  stop();
}

void Server::start() {
  const unsigned workers = config_.effectiveWorkers();
  if (!config_.authFile.empty() || !config_.authHelper.empty()) {
    auth::AuthOptions options;
    options.path = config_.authFile;
    options.realm = config_.realm;
    options.allowPlain = config_.authPlaintext;
    options.cacheTtlMs = config_.authCacheTtlMs;
    options.maxFailures = config_.authMaxFailures;
    options.failureWindowMs = config_.authFailureWindowMs;
    options.maxSlowChecks = config_.authMaxPendingChecks;
    options.helperArgv = config_.authHelper;
    options.helperChildren = static_cast<unsigned>(config_.authHelperChildren);
    options.helperConcurrency = static_cast<unsigned>(config_.authHelperConcurrency);
    options.helperQueue = config_.authHelperQueue;
    options.helperTimeoutMs = config_.authHelperTimeoutMs;
    options.negativeTtlMs = config_.authNegativeTtlMs;
    options.groupFile = config_.groupFile;
    options.groupHelperArgv = config_.groupHelper;
    options.groupHelperChildren = static_cast<unsigned>(config_.groupHelperChildren);
    options.groupHelperConcurrency = static_cast<unsigned>(config_.groupHelperConcurrency);
    options.groupTtlMs = config_.groupCacheTtlMs;
    options.groupNegativeTtlMs = config_.groupNegativeTtlMs;
    authStore_ = std::make_unique<auth::AuthStore>(options); // throws if unreadable
  }
  if (!config_.tlsListen.empty()) {
    tlsServer_ = std::make_unique<tls::ServerContextHolder>(
        tls::ServerOptions{config_.tlsCert, config_.tlsKey, config_.tlsClientCa});
  }
  upstreamTls_ = tls::makeClientContext(config_.upstreamCa);
  std::vector<std::vector<Worker::Listener>> listenersPerWorker(workers);
  auto bindAll = [&](std::vector<uv::SocketAddress> addresses, bool tls,
                     std::vector<uv::SocketAddress>& bound) {
    for (const uv::SocketAddress& address : addresses) {
      // One socket per worker in an SO_REUSEPORT group only this process is in.
      std::vector<int> fds = uv::openListenSockets(address, workers, 1024);
      bound.push_back(uv::boundAddress(fds.front())); // the real port when 0 was asked
      for (unsigned w = 0; w < workers; ++w) {
        fds_.push_back(fds[w]);
        listenersPerWorker[w].push_back({fds[w], tls});
      }
    }
  };
  try {
    bindAll(config_.listenAddresses(), false, bound_);
    bindAll(config_.tlsListenAddresses(), true, boundTls_);
  } catch (...) {
    for (int fd : fds_) {
      ::close(fd);
    }
    fds_.clear();
    throw;
  }
  pseudonym_ = config_.pseudonym;
  if (pseudonym_.empty()) {
    config::Config withPort = config_;
    withPort.listen.clear();
    for (const auto& a : bound_.empty() ? boundTls_ : bound_) {
      withPort.listen.push_back(a.toString());
    }
    pseudonym_ = config::defaultPseudonym(withPort);
  }
  DiagnosticLimit limit;
  limit.linesPerWindow = config_.refusedLogLines;
  limit.windowMs = config_.refusedLogWindowMs;
  for (unsigned w = 0; w < workers; ++w) {
    telemetry_.push_back(std::make_unique<WorkerTelemetry>(counters_, limit));
    workers_.push_back(std::make_unique<Worker>(config_, counters_, listenersPerWorker[w], w,
                                                pseudonym_, authStore_.get(), tlsServer_.get(),
                                                upstreamTls_, telemetry_.back().get()));
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([w = worker.get()] { w->run(); });
  }
}

std::string Server::reloadTls() {
  return tlsServer_ ? tlsServer_->reload() : "";
}

void Server::stop() {
  for (auto& worker : workers_) {
    worker->requestStop();
  }
  for (auto& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  threads_.clear();
  workers_.clear();
  for (int fd : fds_) {
    ::close(fd);
  }
  fds_.clear();
}

} // namespace gatehouse::proxy
