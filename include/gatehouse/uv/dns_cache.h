#pragma once
// The resolver's memory of recent answers, bounded: positive answers for their DNS TTL
// (clamped), negative ones (the name does not exist, or has no address) briefly as RFC 2308
// asks, and never more than a set number of names of each kind, the least recently used
// going first. Negative answers have their own, smaller bound, so a flood of random names
// (random.example.test) cannot push out the names that work.
// Pure: no loop, no clock of its own (callers pass `now` in milliseconds), no <uv.h>.

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gatehouse/uv/socket_address.h"

namespace gatehouse::uv {

class DnsCache {
public:
  struct Options {
    size_t maxEntries = 10'000;        // names with addresses kept at most; 0 keeps none
    size_t maxNegativeEntries = 2'500; // names that do not resolve kept at most; 0 keeps none
    uint64_t minTtlMs = 1'000;         // a positive answer is kept at least this long...
    uint64_t maxTtlMs = 30'000;        // ...and at most this long, whatever its TTL
    // A negative answer without a TTL of its own (the SOA minimum, RFC 2308 §5) is kept this
    // long; 0 keeps none. With one, it is clamped to maxNegativeTtlMs.
    uint64_t negativeTtlMs = 5'000;
    uint64_t maxNegativeTtlMs = 30'000;
  };

  // A cached answer: addresses (port 0), or a negative one with the resolver's error name.
  struct Answer {
    std::vector<SocketAddress> addresses; // empty for a negative answer
    std::string errorName;                // "ARES_ENOTFOUND" or "ARES_ENODATA" when negative
    bool negative() const { return addresses.empty(); }
  };

  explicit DnsCache(Options options) : options_(options) {}

  // The fresh answer for `host`, which becomes the most recently used; null when there is
  // none (an expired one is dropped). Valid until the next call that changes the cache.
  const Answer* find(const std::string& host, uint64_t now);
  // Keeps addresses for `ttlSeconds` (the smallest TTL of the records), clamped.
  void storeAddresses(const std::string& host, std::vector<SocketAddress> addresses,
                      uint64_t ttlSeconds, uint64_t now);
  // Keeps "no such name / no address" for the SOA minimum when known, else the default.
  void storeNegative(const std::string& host, std::string errorName,
                     std::optional<uint64_t> soaMinimumSeconds, uint64_t now);

  // Names cached, both kinds.
  size_t size() const { return index_.size(); }
  const Options& options() const { return options_; }

private:
  struct Entry {
    std::string host;
    Answer answer;
    uint64_t expiresAt = 0;
  };
  using List = std::list<Entry>;
  void store(const std::string& host, Answer answer, uint64_t expiresAt, uint64_t now);
  List& listFor(const Answer& answer) { return answer.negative() ? negative_ : positive_; }

  Options options_;
  List positive_; // most recently used first
  List negative_; // likewise
  std::unordered_map<std::string, List::iterator> index_;
};

} // namespace gatehouse::uv
