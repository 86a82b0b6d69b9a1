#include "gatehouse/uv/dns_cache.h"

#include <algorithm>

namespace gatehouse::uv {

const DnsCache::Answer* DnsCache::find(const std::string& host, uint64_t now) {
  auto it = index_.find(host);
  if (it == index_.end()) {
    return nullptr;
  }
  List& list = listFor(it->second->answer);
  if (it->second->expiresAt <= now) {
    list.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  list.splice(list.begin(), list, it->second); // most recently used now
  return &it->second->answer;
}

void DnsCache::storeAddresses(const std::string& host, std::vector<SocketAddress> addresses,
                              uint64_t ttlSeconds, uint64_t now) {
  if (addresses.empty()) {
    return;
  }
  // Saturating: a TTL near 2^32 s must not wrap around to a short one.
  const uint64_t ttlMs = ttlSeconds > UINT64_MAX / 1000 ? UINT64_MAX : ttlSeconds * 1000;
  store(host, Answer{std::move(addresses), {}},
        now + std::clamp(ttlMs, options_.minTtlMs, options_.maxTtlMs), now);
}

void DnsCache::storeNegative(const std::string& host, std::string errorName,
                             std::optional<uint64_t> soaMinimumSeconds, uint64_t now) {
  uint64_t ttlMs = options_.negativeTtlMs;
  if (soaMinimumSeconds && ttlMs != 0) {
    ttlMs = std::min(*soaMinimumSeconds, options_.maxNegativeTtlMs / 1000) * 1000;
  }
  if (ttlMs == 0) {
    return; // negative caching is off, or the zone asked for none
  }
  store(host, Answer{{}, std::move(errorName)}, now + ttlMs, now);
}

void DnsCache::store(const std::string& host, Answer answer, uint64_t expiresAt, uint64_t now) {
  // A new answer replaces an old one, whichever kind either is.
  if (auto it = index_.find(host); it != index_.end()) {
    listFor(it->second->answer).erase(it->second);
    index_.erase(it);
  }
  List& list = listFor(answer);
  const size_t limit = answer.negative() ? options_.maxNegativeEntries : options_.maxEntries;
  if (limit == 0) {
    return;
  }
  // Room first: expired entries at the cold end, then the least recently used ones.
  while (!list.empty() && (list.size() >= limit || list.back().expiresAt <= now)) {
    index_.erase(list.back().host);
    list.pop_back();
  }
  list.push_front(Entry{host, std::move(answer), expiresAt});
  index_.emplace(host, list.begin());
}

} // namespace gatehouse::uv
