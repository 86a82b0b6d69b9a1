#include "gatehouse/proxy/server.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <unistd.h>

#include "gatehouse/auth/user_file.h"
#include "gatehouse/policy/rules.h"
#include "gatehouse/proxy/egress.h"
#include "gatehouse/proxy/worker.h"
#include "gatehouse/uv/listen_socket.h"

namespace gatehouse::proxy {

namespace {
constexpr int kBacklog = 1024;

// Waits for loops to confirm a task; bounded, since a loop that is this slow is stuck anyway.
void waitAll(std::vector<std::future<void>>& futures) {
  for (auto& f : futures) {
    f.wait_for(std::chrono::seconds(5));
  }
}

void closeAll(std::vector<int>& fds) {
  for (int fd : fds) {
    ::close(fd);
  }
  fds.clear();
}
} // namespace

Server::Server(config::Config config)
    : pendingConfig_(std::make_unique<config::Config>(std::move(config))) {}

Server::Server(GenerationPtr generation) : generation_(std::move(generation)) {}

Server::~Server() {
  stop();
  for (auto& listener : listeners_) {
    closeAll(listener.fds);
  }
}

auth::AuthStore* Server::authStore() const {
  return generation_ ? generation_->authStore.get() : nullptr;
}

std::vector<Server::BoundListener> Server::bindListeners(const config::Config& config,
                                                         std::vector<BoundListener>& reused) {
  std::vector<BoundListener> result;
  // (index in result, index in reused) of every entry whose sockets came from `reused`.
  std::vector<std::pair<size_t, size_t>> borrowed;
  try {
    for (bool tls : {false, true}) {
      for (const std::string& spec : tls ? config.tlsListen : config.listen) {
        // The same text (address and options) keeps its sockets: nothing queued is lost.
        auto same = std::find_if(reused.begin(), reused.end(), [&](const BoundListener& l) {
          return l.spec == spec && l.tls == tls && !l.fds.empty();
        });
        if (same != reused.end()) {
          borrowed.emplace_back(result.size(), same - reused.begin());
          result.push_back(std::move(*same));
          same->fds.clear();
          continue;
        }
        std::string error;
        auto parsed = config::parseListener(spec, error);
        if (!parsed) {
          throw std::runtime_error(error);
        }
        // The same address with other options (proxy_protocol, moved between listen and
        // tls_listen) keeps its sockets too, under a new id so that each worker accepts on
        // them with the new options: binding it again would fail, the port being ours.
        const std::string wanted = parsed->address.toString();
        auto sameAddress =
            parsed->address.port() == 0
                ? reused.end()
                : std::find_if(reused.begin(), reused.end(), [&](const BoundListener& l) {
                    return l.address.toString() == wanted && !l.fds.empty();
                  });
        if (sameAddress != reused.end()) {
          borrowed.emplace_back(result.size(), sameAddress - reused.begin());
          result.push_back({nextListenerId_++, spec, tls, parsed->proxyProtocol,
                            sameAddress->address, std::move(sameAddress->fds)});
          sameAddress->fds.clear();
          continue;
        }
        BoundListener bound{nextListenerId_++, spec, tls, parsed->proxyProtocol,
                            parsed->address,   {}};
        // One socket per worker in an SO_REUSEPORT group only this process is in (a probe
        // bind first: a port anything else holds fails here, naming the address).
        bound.fds = uv::openListenSockets(parsed->address, workerCount_, kBacklog); // throws
        bound.address = uv::boundAddress(bound.fds.front()); // the real port when 0 was asked
        result.push_back(std::move(bound));
      }
    }
  } catch (...) {
    // Give back what was reused; close only what this call opened.
    for (size_t i = 0; i < result.size(); ++i) {
      auto owner = std::find_if(borrowed.begin(), borrowed.end(),
                                [i](const auto& b) { return b.first == i; });
      if (owner != borrowed.end()) {
        reused[owner->second].fds = std::move(result[i].fds);
      } else {
        closeAll(result[i].fds);
      }
    }
    throw;
  }
  return result;
}

void Server::publishAddresses() {
  bound_.clear();
  boundTls_.clear();
  for (const auto& l : listeners_) {
    (l.tls ? boundTls_ : bound_).push_back(l.address);
  }
  if (generation_) {
    published_.store(std::make_shared<const Published>(Published{generation_->config, bound_}));
  }
}

std::string Server::pseudonymFor(const config::Config& config) const {
  if (!config.pseudonym.empty()) {
    return config.pseudonym;
  }
  config::Config withPort = config;
  withPort.listen.clear();
  for (const auto& a : bound_.empty() ? boundTls_ : bound_) {
    withPort.listen.push_back(a.toString());
  }
  return config::defaultPseudonym(withPort);
}

GenerationPtr Server::withBoundPolicy(const GenerationPtr& generation) const {
  // The rules and the SSRF guard, with the addresses really bound (a port 0 became one).
  std::vector<uv::SocketAddress> allBound = bound_;
  allBound.insert(allBound.end(), boundTls_.begin(), boundTls_.end());
  auto bound = std::make_shared<Generation>(*generation);
  bound->egressPolicy = compileEgress(*generation->config, allBound); // throws like a start
  return bound;
}

void Server::start() {
  if (!generation_) {
    generation_ = loadGeneration(*pendingConfig_); // throws naming the file
    pendingConfig_.reset();
  }
  const config::Config& config = *generation_->config;
  workerCount_ = config.effectiveWorkers();
  std::vector<BoundListener> none;
  listeners_ = bindListeners(config, none);
  publishAddresses();
  generation_ = withBoundPolicy(generation_);
  pseudonym_ = pseudonymFor(config);
  // The refused-line limiter's budget is the start-up one (telemetry is per worker, not per
  // generation).
  DiagnosticLimit limit;
  limit.linesPerWindow = config.refusedLogLines;
  limit.windowMs = config.refusedLogWindowMs;
  for (unsigned w = 0; w < workerCount_; ++w) {
    std::vector<Worker::Listener> mine;
    for (const auto& l : listeners_) {
      mine.push_back({l.id, l.fds[w], l.tls, l.proxyProtocol});
    }
    // The worker's telemetry outlives every generation the worker runs (and the worker).
    telemetry_.push_back(std::make_unique<WorkerTelemetry>(counters_, limit));
    workers_.push_back(std::make_unique<Worker>(generation_, counters_, std::move(mine), w,
                                                pseudonym_, telemetry_.back().get()));
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([this, w = worker.get()] {
      w->run();
      finishedWorkers_.fetch_add(1);
    });
  }
}

void Server::reload(GenerationPtr next) {
  const config::Config& config = *next->config;
  std::vector<BoundListener> old = std::move(listeners_);
  try {
    listeners_ = bindListeners(config, old); // moves kept sockets out of `old`
  } catch (...) {
    listeners_ = std::move(old);
    throw;
  }
  publishAddresses();
  try {
    next = withBoundPolicy(next);
  } catch (...) {
    // Back as it was: kept sockets return to their entries (same address), new ones close.
    for (auto& fresh : listeners_) {
      auto owner = std::find_if(old.begin(), old.end(), [&](const BoundListener& l) {
        return l.fds.empty() && l.address.toString() == fresh.address.toString();
      });
      if (owner != old.end()) {
        owner->fds = std::move(fresh.fds);
      } else {
        closeAll(fresh.fds);
      }
    }
    listeners_ = std::move(old);
    publishAddresses();
    throw;
  }
  pseudonym_ = pseudonymFor(config);
  generation_ = std::move(next);
  publishAddresses(); // the admin listener's /proxy.pac follows the new configuration
  std::vector<std::future<void>> swapped;
  for (unsigned w = 0; w < workers_.size(); ++w) {
    std::vector<Worker::Listener> mine;
    for (const auto& l : listeners_) {
      mine.push_back({l.id, l.fds[w], l.tls, l.proxyProtocol});
    }
    workers_[w]->adopt(generation_, pseudonym_);
    swapped.push_back(workers_[w]->setListeners(std::move(mine)));
  }
  // Sockets no longer configured: once each worker has swapped (it accepts on its own
  // duplicates, opening new ones before closing old ones), closing ours drops nothing.
  waitAll(swapped);
  for (auto& l : old) {
    closeAll(l.fds);
  }
}

void Server::beginDrain() {
  std::vector<std::future<void>> stopped;
  for (auto& worker : workers_) {
    stopped.push_back(worker->drain());
  }
  waitAll(stopped); // no worker may still be about to duplicate one of our fds
  // With ours closed, each socket closes once its worker closed its acceptor: connects are
  // refused from then on instead of waiting in a backlog nobody accepts from.
  for (auto& l : listeners_) {
    closeAll(l.fds);
  }
}

size_t Server::openConnections() const {
  return counters_.clientConnections.load(std::memory_order_relaxed);
}

std::string Server::reloadTls() {
  return generation_ && generation_->tlsServer ? generation_->tlsServer->reload() : "";
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
  for (auto& l : listeners_) {
    closeAll(l.fds);
  }
}

} // namespace gatehouse::proxy
