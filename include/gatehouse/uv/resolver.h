#pragma once
// Asynchronous DNS on the loop with c-ares (honours /etc/hosts), with a bounded cache of
// positive and (briefly) negative answers (DnsCache).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/uv/dns_cache.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::uv {

class Loop;

// What a lookup produced: addresses in the order to try them, or a failure.
struct ResolveResult {
  enum class Status { Ok, NotFound, Timeout, Failed };
  Status status = Status::Failed;
  std::vector<SocketAddress> addresses;
  std::string errorName; // c-ares error name ("ARES_ENOTFOUND") when status != Ok
};

// A pending lookup; destroying or cancel()ling it guarantees the callback never runs.
class ResolveRequest {
public:
  virtual ~ResolveRequest() = default;
  virtual void cancel() = 0;
};
using ResolveRequestPtr = std::unique_ptr<ResolveRequest>;

// One c-ares channel driven by the loop (uv_poll per c-ares socket, one timer).
class Resolver {
public:
  using Callback = std::function<void(const ResolveResult&)>;
  struct Options {
    uint64_t timeoutMs = 5000; // whole lookup
    DnsCache::Options cache;
    // "IP[:port],..." to use instead of /etc/resolv.conf's servers; empty: the system's.
    std::string servers;
    // Where to count answers from the cache and lookups sent to DNS (metrics; may be null).
    std::atomic<uint64_t>* cacheHits = nullptr;
    std::atomic<uint64_t>* lookups = nullptr;
  };

  Resolver(Loop& loop, Options options);
  ~Resolver();
  // The addresses when they are known without asking DNS: a numeric literal or a fresh cache
  // entry. Callers try this first, so resolve()'s callback never runs inside the caller's
  // own call. A cached negative answer is not given here but by resolve(), later.
  std::optional<ResolveResult> answerNow(const std::string& host, uint16_t port);
  // Starts a lookup; the callback runs later on the loop. The port is set on every address.
  // A name cached as not existing is answered NotFound on the next loop turn, without DNS.
  ResolveRequestPtr resolve(const std::string& host, uint16_t port, Callback callback);
  // Stops the channel and closes its handles; pending callbacks get Status::Failed.
  void close();

  struct Impl;

private:
  Impl* impl_; // freed once all of its handles have closed
};

} // namespace gatehouse::uv
