#include "gatehouse/auth/authenticator.h"

#include <algorithm>
#include <array>
#include <memory>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdexcept>

#include "gatehouse/log/log.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::auth {

namespace {

// The HMAC key of the credential caches: random, per process, never stored anywhere else.
const std::array<unsigned char, 32>& processKey() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
      throw std::runtime_error("RAND_bytes failed: no randomness for the credential cache key");
    }
    return k;
  }();
  return key;
}

bool usableName(std::string_view name) {
  return !name.empty() && name.size() <= 256 && std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// A password handed to the thread pool, wiped when the last holder lets go (even if the job
// was cancelled before it ran).
struct Secret {
  explicit Secret(std::string v) : value(std::move(v)) {}
  ~Secret() { wipe(value); }
  std::string value;
};

// One caller waiting on a lookup; the handle it holds clears `done` on destruction.
struct Waiter {
  Authenticator::Done done;
};

class WaiterHandle final : public uv::WorkRequest {
public:
  explicit WaiterHandle(std::shared_ptr<Waiter> waiter) : waiter_(std::move(waiter)) {}
  ~WaiterHandle() override { cancel(); }
  void cancel() override { waiter_->done = nullptr; }

private:
  std::shared_ptr<Waiter> waiter_;
};

} // namespace

// One lookup in progress (thread-pool hash check or helper request) and everyone waiting on
// it. Each distinct client address is counted once against its throttling budget.
struct Authenticator::Flight {
  std::string user;
  std::vector<std::shared_ptr<Waiter>> waiters;
  std::vector<std::string> addresses;
  uv::WorkRequestPtr work; // the thread-pool job; destroying it neuters its callback
};

Authenticator::Authenticator(uv::Loop& loop, AuthStore& store) : loop_(loop), store_(store) {
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  mac_ = EVP_MAC_CTX_new(hmac);
  EVP_MAC_free(hmac); // the context keeps its own reference
  char digest[] = "SHA2-256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (mac_ == nullptr ||
      EVP_MAC_init(mac_, processKey().data(), processKey().size(), params) != 1) {
    throw std::runtime_error("cannot set up HMAC-SHA256 for the credential cache");
  }
  const AuthOptions& o = store_.options();
  if (!o.helperArgv.empty()) {
    HelperPoolOptions pool;
    pool.name = "auth helper";
    pool.argv = o.helperArgv;
    pool.children = o.helperChildren;
    pool.concurrency = o.helperConcurrency;
    pool.queueLimit = o.helperQueue;
    pool.timeoutMs = o.helperTimeoutMs;
    pool_ = std::make_unique<HelperPool>(loop_, std::move(pool));
  }
  if (!o.groupFile.empty() || !o.groupHelperArgv.empty()) {
    groups_ = std::make_unique<GroupResolver>(loop_, store_);
  }
}

Authenticator::~Authenticator() {
  close();
  EVP_MAC_CTX_free(mac_);
}

void Authenticator::close() {
  // Nobody is called back during shutdown; then the helpers go.
  for (auto& [key, flight] : flights_) {
    for (auto& waiter : flight->waiters) {
      waiter->done = nullptr;
    }
  }
  if (pool_) {
    pool_->close();
  }
  if (groups_) {
    groups_->close();
  }
}

std::string Authenticator::credentialKey(std::string_view user, std::string_view password) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  // A NULL key re-initialises with the key set in the constructor.
  EVP_MAC_init(mac_, nullptr, 0, nullptr);
  EVP_MAC_update(mac_, reinterpret_cast<const unsigned char*>(user.data()), user.size());
  EVP_MAC_update(mac_, reinterpret_cast<const unsigned char*>("\0"), 1);
  EVP_MAC_update(mac_, reinterpret_cast<const unsigned char*>(password.data()), password.size());
  EVP_MAC_final(mac_, out, &len, sizeof out);
  return std::string(reinterpret_cast<char*>(out), len);
}

void Authenticator::remember(std::unordered_map<std::string, CacheEntry>& cache,
                             const std::string& key, CacheEntry entry) {
  if (cache.size() >= kMaxCacheEntries && cache.count(key) == 0) {
    // Bounded: expired entries go first; if none, one arbitrary entry makes room.
    const uint64_t now = loop_.now();
    std::erase_if(cache, [now](const auto& item) { return item.second.expiresAt <= now; });
    if (cache.size() >= kMaxCacheEntries) {
      cache.erase(cache.begin());
    }
  }
  cache[key] = std::move(entry);
}

PendingCheck Authenticator::join(Flight& flight, const std::string& clientAddress, Done done) {
  if (std::find(flight.addresses.begin(), flight.addresses.end(), clientAddress) ==
      flight.addresses.end()) {
    flight.addresses.push_back(clientAddress);
    store_.beginAttempt(clientAddress, flight.user);
  }
  auto waiter = std::make_shared<Waiter>(Waiter{std::move(done)});
  flight.waiters.push_back(waiter);
  return std::make_unique<WaiterHandle>(std::move(waiter));
}

void Authenticator::land(const std::string& key, AuthDecision decision) {
  auto it = flights_.find(key);
  if (it == flights_.end()) {
    return;
  }
  std::shared_ptr<Flight> flight = std::move(it->second);
  flights_.erase(it);
  const bool failed = decision.refusal == Refusal::WrongPassword ||
                      decision.refusal == Refusal::UnknownUser ||
                      decision.refusal == Refusal::HelperFailure;
  for (const std::string& address : flight->addresses) {
    store_.endAttempt(address, flight->user, failed);
  }
  for (auto& waiter : flight->waiters) {
    if (Done done = std::move(waiter->done)) {
      done(decision); // may start new checks: the flight is already out of the map
    }
  }
}

AuthDecision Authenticator::fromHelper(const std::string& key, const std::string& user,
                                       HelperOutcome outcome, const HelperReply& reply) {
  AuthDecision d;
  d.user = user;
  const uint64_t now = loop_.now();
  if (outcome != HelperOutcome::Replied) {
    d.refusal = Refusal::BackendUnavailable;
    d.detail = std::string("auth helper ") + outcomeName(outcome);
    d.retryAfterSeconds = 1;
    return d;
  }
  std::string message = loggableReply(reply.note("message"));
  switch (reply.result) {
  case HelperResult::Ok: {
    // A helper may name the user differently (user=); use it when it is printable.
    std::string_view named = reply.note("user");
    if (usableName(named)) {
      d.user = std::string(named);
    }
    remember(cache_, key, CacheEntry{now + store_.options().cacheTtlMs, generation(), d.user});
    return d;
  }
  case HelperResult::Err:
    d.refusal = Refusal::WrongPassword;
    d.detail = message.empty() ? "helper ERR" : "helper ERR: " + message;
    remember(refused_, key, CacheEntry{now + store_.options().negativeTtlMs, generation(), {}});
    return d;
  case HelperResult::BrokenHelper:
  case HelperResult::Unknown:
    d.refusal = Refusal::HelperFailure;
    d.detail = message.empty() ? "helper BH" : "helper BH: " + message;
    log::diag().warn("auth helper could not decide for user {} (BH{}{})", log::quoted(user),
                     message.empty() ? "" : ": ", message);
    return d;
  }
  return d;
}

std::optional<AuthDecision> Authenticator::check(const std::string& clientAddress,
                                                 std::optional<std::string_view> header, Done done,
                                                 PendingCheck& pending) {
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
  // Throttling first: while over budget, even a remembered right password gets 429, so the
  // answer never tells a right guess from a wrong one (only the connection's own memo,
  // checked by the caller before this, lets a request through).
  if (store_.throttled(clientAddress, credentials->user, decision.retryAfterSeconds)) {
    decision.refusal = Refusal::Throttled;
    return decision;
  }
  const std::string key = credentialKey(credentials->user, credentials->password);
  auto users = store_.users();
  const uint64_t now = loop_.now();
  if (auto cached = cache_.find(key); cached != cache_.end()) {
    if (cached->second.expiresAt > now && cached->second.generation == users->generation) {
      if (cacheHits_ != nullptr) {
        cacheHits_->fetch_add(1, std::memory_order_relaxed);
      }
      if (!cached->second.user.empty()) {
        decision.user = cached->second.user;
      }
      return decision; // allowed
    }
    cache_.erase(cached);
  }
  if (auto refused = refused_.find(key); refused != refused_.end()) {
    if (refused->second.expiresAt > now) {
      store_.beginAttempt(clientAddress, credentials->user);
      store_.endAttempt(clientAddress, credentials->user, true);
      decision.refusal = Refusal::WrongPassword;
      decision.detail = "helper ERR, remembered";
      return decision;
    }
    refused_.erase(refused);
  }
  if (auto flight = flights_.find(key); flight != flights_.end()) {
    pending = join(*flight->second, clientAddress, std::move(done));
    return std::nullopt;
  }

  if (pool_) {
    // Built in one buffer reserved up front: no reallocation leaves a copy of the password.
    std::string fields;
    fields.reserve((credentials->user.size() + credentials->password.size()) * 3 + 1);
    appendHelperEscaped(fields, credentials->user);
    fields.push_back(' ');
    appendHelperEscaped(fields, credentials->password);
    const bool queued = pool_->submit(
        std::move(fields),
        [this, key, user = credentials->user](HelperOutcome outcome, const HelperReply& reply) {
          land(key, fromHelper(key, user, outcome, reply));
        });
    if (!queued) {
      log::diag().warn("auth helper queue full ({} waiting): refusing with 503", pool_->queued());
      decision.refusal = Refusal::BackendUnavailable;
      decision.detail = "auth helper queue full";
      decision.retryAfterSeconds = 1;
      return decision;
    }
    auto flight = std::make_shared<Flight>();
    flight->user = credentials->user;
    pending = join(*flight, clientAddress, std::move(done));
    flights_.emplace(key, std::move(flight));
    return std::nullopt;
  }

  auto entry = users->users.find(credentials->user);
  const bool known = entry != users->users.end();
  // An unknown user is checked against a dummy of the file's usual scheme and cost, on the
  // same path (thread pool or not), so timing does not reveal who exists.
  const UserEntry& checked = known ? entry->second : users->dummy;
  if (known && checked.format == HashFormat::Unknown) {
    decision.refusal = Refusal::UnsupportedHash;
    decision.detail = formatName(checked.format);
    return decision;
  }
  const bool allowPlain = store_.options().allowPlain;
  const uint64_t generation = users->generation;
  auto decide = [known, format = checked.format](AuthDecision d, VerifyResult result) {
    if (!known) {
      d.refusal = Refusal::UnknownUser;
    } else if (result == VerifyResult::Mismatch) {
      d.refusal = Refusal::WrongPassword;
    } else if (result == VerifyResult::Unsupported) {
      d.refusal = Refusal::UnsupportedHash;
      d.detail = formatName(format);
    }
    return d;
  };
  if (!isSlow(checked.format)) {
    VerifyResult result = verifyPassword(credentials->password, checked.hash, allowPlain);
    AuthDecision d = decide(std::move(decision), result);
    store_.beginAttempt(clientAddress, credentials->user);
    store_.endAttempt(clientAddress, credentials->user,
                      d.refusal == Refusal::WrongPassword || d.refusal == Refusal::UnknownUser);
    if (d.allowed()) {
      remember(cache_, key, CacheEntry{now + store_.options().cacheTtlMs, generation, {}});
    }
    return d;
  }
  if (slowChecks_ >= store_.options().maxSlowChecks) {
    // The thread pool is shared with every worker: a flood of bcrypt guesses must not queue
    // without bound ahead of everyone else's checks.
    decision.refusal = Refusal::BackendBusy;
    decision.retryAfterSeconds = 1;
    return decision;
  }
  // Slow hash: verify on the thread pool; the result comes back on the loop.
  ++slowChecks_;
  auto result = std::make_shared<VerifyResult>(VerifyResult::Unsupported);
  auto password = std::make_shared<Secret>(std::move(credentials->password));
  auto flight = std::make_shared<Flight>();
  flight->user = credentials->user;
  pending = join(*flight, clientAddress, std::move(done));
  flights_.emplace(key, flight);
  flight->work = uv::queueWork(
      loop_,
      [result, password, hash = checked.hash, allowPlain] {
        *result = verifyPassword(password->value, hash, allowPlain);
      },
      [this, result, key, generation, decision, decide] {
        --slowChecks_;
        AuthDecision d = decide(decision, *result);
        if (d.allowed()) {
          remember(cache_, key,
                   CacheEntry{loop_.now() + store_.options().cacheTtlMs, generation, {}});
        }
        land(key, std::move(d));
      });
  return std::nullopt;
}

} // namespace gatehouse::auth
