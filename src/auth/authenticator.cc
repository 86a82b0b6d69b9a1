#include "gatehouse/auth/authenticator.h"

#include <memory>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gatehouse/uv/loop.h"

namespace gatehouse::auth {

namespace {

// An unknown user still costs a bcrypt check, so timing does not reveal who exists.
constexpr const char* kDummyHash = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

} // namespace

Authenticator::Authenticator(uv::Loop& loop, AuthStore& store)
    : loop_(loop), store_(store), sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)),
      digestContext_(EVP_MD_CTX_new()) {}

Authenticator::~Authenticator() {
  EVP_MD_CTX_free(digestContext_);
  EVP_MD_free(sha256_);
}

std::string Authenticator::credentialKey(const BasicCredentials& c) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestInit_ex2(digestContext_, sha256_, nullptr);
  EVP_DigestUpdate(digestContext_, c.user.data(), c.user.size());
  EVP_DigestUpdate(digestContext_, "\0", 1);
  EVP_DigestUpdate(digestContext_, c.password.data(), c.password.size());
  EVP_DigestFinal_ex(digestContext_, out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

void Authenticator::remember(const std::string& key, uint64_t generation) {
  if (cache_.size() >= kMaxCacheEntries) {
    cache_.clear(); // crude but bounded; steady traffic refills it at once
  }
  cache_[key] = CacheEntry{loop_.now() + store_.options().cacheTtlMs, generation};
}

AuthDecision Authenticator::finish(const std::string& clientAddress, const std::string& key,
                                   uint64_t generation, std::string user, VerifyResult result,
                                   HashFormat format) {
  AuthDecision decision;
  decision.user = std::move(user);
  switch (result) {
  case VerifyResult::Match:
    remember(key, generation);
    return decision;
  case VerifyResult::Mismatch:
    decision.refusal = Refusal::WrongPassword;
    store_.recordFailure(clientAddress);
    return decision;
  case VerifyResult::Unsupported:
    decision.refusal = Refusal::UnsupportedHash;
    decision.detail = formatName(format);
    return decision;
  }
  return decision;
}

std::optional<AuthDecision> Authenticator::check(const std::string& clientAddress,
                                                 std::optional<std::string_view> header, Done done,
                                                 uv::WorkRequestPtr& pending) {
  AuthDecision decision;
  if (!header) {
    decision.refusal = Refusal::NoCredentials;
    return decision;
  }
  std::string scheme;
  auto credentials = parseBasic(*header, decision.refusal, scheme);
  if (!credentials) {
    decision.detail = scheme;
    return decision;
  }
  decision.user = credentials->user;
  const std::string key = credentialKey(*credentials);
  auto users = store_.users();
  auto cached = cache_.find(key);
  if (cached != cache_.end()) {
    if (cached->second.expiresAt > loop_.now() && cached->second.generation == users->generation) {
      OPENSSL_cleanse(credentials->password.data(), credentials->password.size());
      if (cacheHits_ != nullptr) {
        cacheHits_->fetch_add(1, std::memory_order_relaxed);
      }
      return decision; // allowed
    }
    cache_.erase(cached);
  }
  if (store_.throttled(clientAddress, decision.retryAfterSeconds)) {
    decision.refusal = Refusal::Throttled;
    return decision;
  }
  auto entry = users->users.find(credentials->user);
  const bool known = entry != users->users.end();
  const HashFormat format = known ? entry->second.format : HashFormat::Bcrypt;
  if (known && format == HashFormat::Unknown) {
    decision.refusal = Refusal::UnsupportedHash;
    decision.detail = formatName(format);
    return decision;
  }
  std::string hash = known ? entry->second.hash : kDummyHash;
  const bool allowPlain = store_.options().allowPlain;
  if (!isSlow(format)) {
    VerifyResult result = verifyPassword(credentials->password, hash, allowPlain);
    OPENSSL_cleanse(credentials->password.data(), credentials->password.size());
    return finish(clientAddress, key, users->generation, credentials->user, result, format);
  }
  // Slow hash: verify on the thread pool; the result comes back on the loop.
  auto result = std::make_shared<VerifyResult>(VerifyResult::Unsupported);
  auto password = std::make_shared<std::string>(std::move(credentials->password));
  pending = uv::queueWork(
      loop_,
      [result, password, hash, allowPlain] {
        *result = verifyPassword(*password, hash, allowPlain);
        OPENSSL_cleanse(password->data(), password->size());
      },
      [this, result, known, clientAddress, key, generation = users->generation,
       user = credentials->user, format, done = std::move(done)] {
        AuthDecision d;
        if (!known) {
          d.user = user;
          d.refusal = Refusal::UnknownUser;
          store_.recordFailure(clientAddress);
        } else {
          d = finish(clientAddress, key, generation, user, *result, format);
        }
        done(d);
      });
  return std::nullopt;
}

} // namespace gatehouse::auth
