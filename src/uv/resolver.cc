#include "gatehouse/uv/resolver.h"

#include <algorithm>
#include <ares.h>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <uv.h>

#include "gatehouse/uv/loop.h"

namespace gatehouse::uv {

namespace {

// The state of one lookup, shared by c-ares' callback argument and the caller's handle.
struct Query {
  Resolver::Callback callback;
  uint16_t port = 0;
  std::string host;
  bool cancelled = false;
};

class RequestHandle final : public ResolveRequest {
public:
  explicit RequestHandle(std::shared_ptr<Query> query) : query_(std::move(query)) {}
  ~RequestHandle() override { cancel(); }
  void cancel() override {
    query_->cancelled = true;
    query_->callback = nullptr;
  }

private:
  std::shared_ptr<Query> query_;
};

} // namespace

// c-ares channel plus one uv_poll_t per socket c-ares opens, one timer for its timeouts, and
// one zero-delay timer that delivers answers known from the cache on the next loop turn.
struct Resolver::Impl {
  explicit Impl(const Options& o) : options(o), cache(o.cache) {}

  Loop* loop = nullptr;
  Options options;
  ares_channel channel = nullptr;
  uv_timer_t timer;
  uv_timer_t deferTimer;
  std::unordered_map<ares_socket_t, uv_poll_t*> polls;
  DnsCache cache;
  // Answers from the cache waiting for deferTimer: one per pending request at most.
  std::vector<std::pair<std::shared_ptr<Query>, ResolveResult>> deferred;
  int openHandles = 0; // freed when this reaches zero after close
  bool closing = false;

  static void deliver(Query& query, ResolveResult result) {
    for (auto& a : result.addresses) {
      a.setPort(query.port);
    }
    if (!query.cancelled && query.callback) {
      // Move the callback out first: it may cancel (and clear) the query while running.
      auto callback = std::move(query.callback);
      callback(result);
    }
  }

  // Runs the deferred answers (callbacks may queue more: those wait for the next turn).
  void deliverDeferred() {
    auto ready = std::move(deferred);
    deferred.clear();
    for (auto& [query, result] : ready) {
      deliver(*query, std::move(result));
    }
  }

  void armTimer() {
    if (closing) {
      return;
    }
    timeval tv{};
    timeval* next = ares_timeout(channel, nullptr, &tv);
    if (next == nullptr) {
      uv_timer_stop(&timer);
      return;
    }
    uint64_t ms = static_cast<uint64_t>(next->tv_sec) * 1000 + next->tv_usec / 1000;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<Impl*>(t->data);
          ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
          self->armTimer();
        },
        std::max<uint64_t>(ms, 1), 0);
  }

  void handleClosed() {
    if (--openHandles == 0) {
      delete this;
    }
  }

  void closePoll(uv_poll_t* poll) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) noexcept {
      auto* self = static_cast<Impl*>(h->data);
      delete reinterpret_cast<uv_poll_t*>(h);
      self->handleClosed();
    });
  }

  static void onSocketState(void* data, ares_socket_t fd, int readable, int writable) noexcept {
    auto* self = static_cast<Impl*>(data);
    auto it = self->polls.find(fd);
    if (!readable && !writable) {
      if (it != self->polls.end()) {
        uv_poll_t* poll = it->second;
        self->polls.erase(it);
        self->closePoll(poll);
      }
      return;
    }
    if (self->closing) {
      return;
    }
    uv_poll_t* poll;
    if (it == self->polls.end()) {
      poll = new uv_poll_t;
      uv_poll_init_socket(static_cast<uv_loop_t*>(self->loop->raw()), poll, fd);
      poll->data = self;
      ++self->openHandles;
      self->polls.emplace(fd, poll);
    } else {
      poll = it->second;
    }
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    uv_poll_start(poll, events, [](uv_poll_t* p, int status, int ev) noexcept {
      auto* impl = static_cast<Impl*>(p->data);
      int fdOfPoll = -1;
      uv_fileno(reinterpret_cast<uv_handle_t*>(p), &fdOfPoll);
      // On a poll error let c-ares try both directions so it notices the failure itself.
      bool r = status < 0 || (ev & UV_READABLE);
      bool w = status < 0 || (ev & UV_WRITABLE);
      ares_process_fd(impl->channel, r ? fdOfPoll : ARES_SOCKET_BAD,
                      w ? fdOfPoll : ARES_SOCKET_BAD);
      impl->armTimer();
    });
  }

  static void onAddrInfo(void* arg, int status, int, ares_addrinfo* result) noexcept {
    auto* holder = static_cast<std::pair<Impl*, std::shared_ptr<Query>>*>(arg);
    Impl* self = holder->first;
    std::shared_ptr<Query> query = std::move(holder->second);
    delete holder;
    ResolveResult out;
    uint64_t ttlSeconds = UINT32_MAX;
    if (status == ARES_SUCCESS && result != nullptr) {
      for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
        SocketAddress address(n->ai_addr);
        if (!address.valid()) {
          continue;
        }
        address.setPort(0);
        if (std::find_if(out.addresses.begin(), out.addresses.end(), [&](const auto& a) {
              return a.toString() == address.toString();
            }) == out.addresses.end()) {
          out.addresses.push_back(address);
        }
        ttlSeconds = std::min<uint64_t>(ttlSeconds, static_cast<uint64_t>(std::max(n->ai_ttl, 0)));
      }
    }
    if (result != nullptr) {
      ares_freeaddrinfo(result);
    }
    if (status == ARES_SUCCESS && !out.addresses.empty()) {
      out.status = ResolveResult::Status::Ok;
      if (!self->closing) {
        self->cache.storeAddresses(query->host, out.addresses, ttlSeconds, self->loop->now());
      }
    } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_SUCCESS) {
      out.status = ResolveResult::Status::NotFound;
      out.errorName = status == ARES_ENODATA ? "ARES_ENODATA" : "ARES_ENOTFOUND";
      if (!self->closing) {
        // ares_getaddrinfo does not pass the SOA on, so the default negative TTL applies.
        self->cache.storeNegative(query->host, out.errorName, std::nullopt, self->loop->now());
      }
    } else if (status == ARES_ETIMEOUT) {
      out.status = ResolveResult::Status::Timeout;
      out.errorName = "ARES_ETIMEOUT";
    } else {
      out.status = ResolveResult::Status::Failed;
      out.errorName = std::string("ARES_") + ares_strerror(status);
    }
    deliver(*query, std::move(out));
  }
};

Resolver::Resolver(Loop& loop, Options options) : impl_(new Impl(options)) {
  static std::once_flag initOnce;
  std::call_once(initOnce, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  impl_->loop = &loop;
  ares_options opts{};
  opts.sock_state_cb = &Impl::onSocketState;
  opts.sock_state_cb_data = impl_;
  // Two tries share the lookup budget, so a dead server costs at most `timeoutMs`.
  opts.timeout = static_cast<int>(std::max<uint64_t>(options.timeoutMs / 2, 50));
  opts.tries = 2;
  opts.lookups = const_cast<char*>("fb"); // /etc/hosts first, then DNS
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  if (int rc = ares_init_options(&impl_->channel, &opts, mask); rc != ARES_SUCCESS) {
    delete impl_;
    throw std::runtime_error(std::string("c-ares init: ") + ares_strerror(rc));
  }
  if (!options.servers.empty()) {
    if (int rc = ares_set_servers_ports_csv(impl_->channel, options.servers.c_str());
        rc != ARES_SUCCESS) {
      ares_destroy(impl_->channel);
      delete impl_;
      throw std::runtime_error("DNS servers \"" + options.servers + "\": " + ares_strerror(rc));
    }
  }
  uv_timer_init(static_cast<uv_loop_t*>(loop.raw()), &impl_->timer);
  impl_->timer.data = impl_;
  uv_timer_init(static_cast<uv_loop_t*>(loop.raw()), &impl_->deferTimer);
  impl_->deferTimer.data = impl_;
  impl_->openHandles = 2;
}

Resolver::~Resolver() {
  close();
}

std::optional<ResolveResult> Resolver::answerNow(const std::string& host, uint16_t port) {
  ResolveResult out;
  if (impl_ == nullptr) {
    out.errorName = "resolver closed";
    return out;
  }
  SocketAddress numeric;
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  if (SocketAddress::fromNumeric(bare, port, numeric)) {
    out.status = ResolveResult::Status::Ok;
    out.addresses.push_back(numeric);
    return out;
  }
  const DnsCache::Answer* cached = impl_->cache.find(host, impl_->loop->now());
  if (cached == nullptr || cached->negative()) {
    return std::nullopt; // a negative answer comes from resolve(), never inside this call
  }
  out.status = ResolveResult::Status::Ok;
  out.addresses = cached->addresses;
  if (impl_->options.cacheHits != nullptr) {
    impl_->options.cacheHits->fetch_add(1, std::memory_order_relaxed);
  }
  for (auto& a : out.addresses) {
    a.setPort(port);
  }
  return out;
}

ResolveRequestPtr Resolver::resolve(const std::string& host, uint16_t port, Callback callback) {
  auto query = std::make_shared<Query>();
  query->callback = std::move(callback);
  query->port = port;
  query->host = host;
  auto handle = std::make_unique<RequestHandle>(query);
  if (impl_ == nullptr) {
    return handle; // never answers; the caller's timeout or shutdown covers it
  }
  if (const DnsCache::Answer* cached = impl_->cache.find(host, impl_->loop->now());
      cached != nullptr && cached->negative()) {
    ResolveResult out;
    out.status = ResolveResult::Status::NotFound;
    out.errorName = cached->errorName;
    if (impl_->options.cacheHits != nullptr) {
      impl_->options.cacheHits->fetch_add(1, std::memory_order_relaxed); // a remembered NXDOMAIN
    }
    impl_->deferred.emplace_back(query, std::move(out));
    uv_timer_start(
        &impl_->deferTimer,
        [](uv_timer_t* t) noexcept { static_cast<Impl*>(t->data)->deliverDeferred(); }, 0, 0);
    return handle;
  }
  if (impl_->options.lookups != nullptr) {
    impl_->options.lookups->fetch_add(1, std::memory_order_relaxed);
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  auto* arg = new std::pair<Impl*, std::shared_ptr<Query>>(impl_, query);
  ares_getaddrinfo(impl_->channel, host.c_str(), nullptr, &hints, &Impl::onAddrInfo, arg);
  impl_->armTimer();
  return handle;
}

void Resolver::close() {
  Impl* impl = impl_;
  if (impl == nullptr) {
    return;
  }
  impl_ = nullptr;
  impl->closing = true;
  // Destroying the channel answers pending lookups (ARES_EDESTRUCTION) and closes its
  // sockets, which reports each socket as neither readable nor writable: polls close there.
  ares_destroy(impl->channel);
  impl->channel = nullptr;
  for (auto& [fd, poll] : impl->polls) {
    impl->closePoll(poll);
  }
  impl->polls.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&impl->timer),
           [](uv_handle_t* h) noexcept { static_cast<Impl*>(h->data)->handleClosed(); });
  uv_close(reinterpret_cast<uv_handle_t*>(&impl->deferTimer),
           [](uv_handle_t* h) noexcept { static_cast<Impl*>(h->data)->handleClosed(); });
  // Like the lookups c-ares abandoned above, answers still waiting for the loop fail now.
  auto deferred = std::move(impl->deferred);
  impl->deferred.clear();
  for (auto& [query, result] : deferred) {
    ResolveResult closed;
    closed.errorName = "resolver closed";
    Impl::deliver(*query, std::move(closed));
  }
}

} // namespace gatehouse::uv
