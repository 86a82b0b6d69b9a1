#pragma once
// Per-worker authentication: decodes Proxy-Authorization, answers from a cache of recent
// successes, and checks the password without blocking the event loop: slow hashes on the
// thread pool, or a Squid basic auth helper through pipes. Concurrent checks of the same
// credentials share one lookup.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <openssl/types.h>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/auth/group_resolver.h"
#include "gatehouse/auth/helper_pool.h"
#include "gatehouse/auth/user_file.h"
#include "gatehouse/uv/work.h"

namespace gatehouse::uv {
class Loop;
}

namespace gatehouse::auth {

// The outcome for one request.
struct AuthDecision {
  Refusal refusal = Refusal::None;
  std::string user;   // known once the header decoded (never the password)
  std::string detail; // extra for the log: the scheme named, the hash format, helper message
  uint64_t retryAfterSeconds = 0;
  bool allowed() const { return refusal == Refusal::None; }
};

class Authenticator {
public:
  using Done = std::function<void(const AuthDecision&)>;
  static constexpr size_t kMaxCacheEntries = 10'000;

  Authenticator(uv::Loop& loop, AuthStore& store);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // Decides at once when it can (no or bad credentials, throttled, a cached answer, a fast
  // hash, a full queue); otherwise starts a lookup, stores its handle in `pending`, returns
  // nullopt, and calls `done` on the loop later (never if `pending` is destroyed first).
  std::optional<AuthDecision> check(const std::string& clientAddress,
                                    std::optional<std::string_view> header, Done done,
                                    PendingCheck& pending);
  // The user table's generation now: a decision made under another generation is stale.
  uint64_t generation() const { return store_.users()->generation; }
  uint64_t cacheTtlMs() const { return store_.options().cacheTtlMs; }
  // Counts decisions answered from the cache of recent successes there (metrics; may be null).
  void countCacheHitsIn(std::atomic<uint64_t>* counter) { cacheHits_ = counter; }
  // Group membership for the policy layer; null when no group backend is configured.
  GroupResolver* groups() { return groups_.get(); }
  // Stops helper processes; call on the loop thread before the loop stops.
  void close();

  // The success-cache key of `user` and `password`: an HMAC under a random per-process key,
  // so a memory dump holds nothing cheaper to crack than the password file (for tests).
  std::string credentialKey(std::string_view user, std::string_view password);

private:
  struct Flight;
  struct CacheEntry {
    uint64_t expiresAt = 0;
    uint64_t generation = 0;
    std::string user; // the helper's user= when it named one
  };
  void remember(std::unordered_map<std::string, CacheEntry>& cache, const std::string& key,
                CacheEntry entry);
  // Joins (or starts) the lookup for `key`; returns its handle for the caller.
  PendingCheck join(Flight& flight, const std::string& clientAddress, Done done);
  void land(const std::string& key, AuthDecision decision);
  AuthDecision fromHelper(const std::string& key, const std::string& user, HelperOutcome outcome,
                          const HelperReply& reply);

  uv::Loop& loop_;
  AuthStore& store_;
  std::unordered_map<std::string, CacheEntry> cache_;                // successes
  std::unordered_map<std::string, CacheEntry> refused_;              // a helper's ERR, briefly
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_; // lookups in progress
  size_t slowChecks_ = 0;            // hash checks queued on the thread pool
  std::unique_ptr<HelperPool> pool_; // the basic auth helper, when configured
  std::unique_ptr<GroupResolver> groups_;
  EVP_MAC_CTX* mac_ = nullptr;                 // HMAC-SHA256, keyed once
  std::atomic<uint64_t>* cacheHits_ = nullptr; // metrics counter, may be null
};

} // namespace gatehouse::auth
