#pragma once
// Per-worker authentication: decodes Proxy-Authorization, answers from a cache of recent
// successes, and checks slow hashes on the thread pool so the event loop never blocks.

#include <atomic>
#include <cstdint>
#include <functional>
#include <openssl/types.h>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gatehouse/auth/basic_credentials.h"
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
  std::string detail; // extra for the log: the scheme named, the hash format
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

  // Decides at once when it can (no or bad credentials, a cached success, a fast hash);
  // otherwise starts an off-loop check, stores its handle in `pending`, returns nullopt, and
  // calls `done` on the loop later (never if `pending` is destroyed first).
  std::optional<AuthDecision> check(const std::string& clientAddress,
                                    std::optional<std::string_view> header, Done done,
                                    uv::WorkRequestPtr& pending);
  // The user table's generation now: a decision made under another generation is stale.
  uint64_t generation() const { return store_.users()->generation; }
  uint64_t cacheTtlMs() const { return store_.options().cacheTtlMs; }
  // Counts decisions answered from the cache of recent successes there (metrics; may be null).
  void countCacheHitsIn(std::atomic<uint64_t>* counter) { cacheHits_ = counter; }

private:
  struct CacheEntry {
    uint64_t expiresAt = 0;
    uint64_t generation = 0;
  };
  void remember(const std::string& key, uint64_t generation);
  // SHA-256 of user and password: the cache key, so no password is kept in memory.
  std::string credentialKey(const BasicCredentials& credentials);
  AuthDecision finish(const std::string& clientAddress, const std::string& key, uint64_t generation,
                      std::string user, VerifyResult result, HashFormat format);

  uv::Loop& loop_;
  AuthStore& store_;
  std::unordered_map<std::string, CacheEntry> cache_;
  // Fetched once: OpenSSL 3's implicit fetch per digest call costs more than the hash.
  EVP_MD* sha256_ = nullptr;
  EVP_MD_CTX* digestContext_ = nullptr;
  std::atomic<uint64_t>* cacheHits_ = nullptr;
};

} // namespace gatehouse::auth
