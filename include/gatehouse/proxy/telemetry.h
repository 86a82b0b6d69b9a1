#pragma once
// What one worker tells operators about its finished exchanges: counters and histograms for
// /metrics, a bounded ring of recent exchanges for the live view, and a per-client limiter for
// the diagnostic lines of refused requests. ExchangeRecord::finish() feeds it on the worker's
// thread; the admin thread reads it. The data path takes no lock for counters: each value has
// one writer (its worker) and is a relaxed atomic, summed over workers on scrape. Only the
// ring of recent exchanges has a mutex, taken once per exchange and contended only while a
// live view copies it.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/errors/proxy_error.h"

namespace gatehouse::proxy {

struct ExchangeRecord;
struct SharedCounters;

// A counter with one writer: a load and a store, no locked instruction on the data path.
struct SingleWriterCounter {
  std::atomic<uint64_t> value{0};
  void add(uint64_t n) {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

// Upper bounds (ms) of the latency histograms' buckets; +Inf is implicit.
inline constexpr std::array<uint64_t, 14> kLatencyBucketsMs = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};

// A latency histogram in ms with one writer. Buckets are not cumulative here (each sample goes
// in one); the exposition makes them cumulative.
struct LatencyHistogram {
  std::array<SingleWriterCounter, kLatencyBucketsMs.size() + 1> buckets; // last: above all
  SingleWriterCounter count;
  SingleWriterCounter sumMs;
  void observe(uint64_t ms);
};

// Request method classes (label values of gatehouse_requests_total).
inline constexpr std::array<std::string_view, 9> kMethodClasses = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "other"};
size_t methodClass(std::string_view method);
// Status classes: "1xx".."5xx", and "other" (0: nothing sent, 499, 598/599 stay in 5xx).
inline constexpr std::array<std::string_view, 6> kStatusClasses = {"1xx", "2xx", "3xx",
                                                                   "4xx", "5xx", "other"};
size_t statusClass(int status);

// auth::Refusal values as metric labels (index: the enum's value).
inline constexpr size_t kRefusalCount =
    static_cast<size_t>(auth::Refusal::BackendUnavailable) + 1; // the last Refusal
// The refusal an AuthRequired/AuthThrottled record's detail names ("auth: <describe>..."),
// or Refusal::None when it names none.
auth::Refusal refusalFromDetail(std::string_view detail);
// A stable label for a refusal ("wrong_password").
std::string_view refusalLabel(auth::Refusal refusal);

// One finished exchange as the live view shows it: no credentials, no bodies, bounded text.
struct ExchangeSummary {
  uint64_t seq = 0;    // global order across workers (SharedCounters::exchangeSequence)
  uint64_t wallMs = 0; // when it ended, ms since the epoch
  std::string id;
  std::string client;
  std::string user;
  std::string method;
  std::string target; // cut at kMaxSummaryText bytes
  int status = 0;
  std::string proxyStatus; // Proxy-Status error type, empty when none
  std::string error;       // the error's log name, empty when none
  std::string phase;       // where it failed, empty when it did not
  std::string authReason;
  std::string rule;
  std::string parent; // the [[parent]] proxy it went through, empty: direct
  std::string detail; // cut at kMaxSummaryText bytes
  std::string end;    // termination code
  std::string upstream;
  bool aborted = false;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  // Phase times relative to the start, -1 where the exchange never got there.
  int64_t decidedMs = -1;
  int64_t connectedMs = -1;
  int64_t firstByteMs = -1;
  int64_t totalMs = 0;
};
inline constexpr size_t kMaxSummaryText = 512;

// Limits for the diagnostic lines of refused requests, per client address.
struct DiagnosticLimit {
  uint64_t linesPerWindow = 10; // lines written per client in one window
  uint64_t windowMs = 10'000;
  size_t maxClients = 1024; // table bound; past it, one shared entry takes the rest
};

class WorkerTelemetry {
public:
  static constexpr size_t kRecentCapacity = 256; // live view ring per worker
  static constexpr size_t kMaxRules = 64;        // distinct rule labels; the rest is "other"

  WorkerTelemetry(SharedCounters& shared, DiagnosticLimit limit);
  WorkerTelemetry(const WorkerTelemetry&) = delete;
  WorkerTelemetry& operator=(const WorkerTelemetry&) = delete;

  // ---- worker thread ----
  // Counts one finished exchange and keeps its summary.
  void onFinished(const ExchangeRecord& record, std::string_view client, uint64_t wallMs);
  // Whether the diagnostic line of this refused exchange from `client` may be written now
  // (false: it is counted and summarised later).
  bool allowDiagnostic(std::string_view client, uint64_t nowMs);
  // Writes "suppressed N similar lines" for every client whose window ended; call about once
  // a second (and at stop, with `all` to flush every window).
  void flushSuppressed(uint64_t nowMs, bool all = false);
  void tunnelOpened() { activeTunnels_.fetch_add(1, std::memory_order_relaxed); }
  void tunnelClosed() { activeTunnels_.fetch_sub(1, std::memory_order_relaxed); }
  // Where the resolver and the authenticator count their cache hits.
  std::atomic<uint64_t>& dnsCacheHits() { return dnsCacheHits_; }
  std::atomic<uint64_t>& dnsLookups() { return dnsLookups_; }
  std::atomic<uint64_t>& authCacheHits() { return authCacheHits_; }

  // ---- any thread (relaxed reads) ----
  uint64_t requests(size_t methodClass, size_t statusClass) const {
    return requests_[methodClass][statusClass].get();
  }
  uint64_t errors(errors::ProxyError error) const {
    return errors_[static_cast<size_t>(error)].get();
  }
  uint64_t authRefusals(size_t refusal) const { return authRefusals_[refusal].get(); }
  // Rule labels and their counts (allowed or refused), "other" last when the table is full.
  struct RuleCount {
    std::string rule;
    uint64_t allowed;
    uint64_t refused;
  };
  std::vector<RuleCount> ruleDecisions() const;
  uint64_t clientBytesIn() const { return bytesIn_.get(); }
  uint64_t clientBytesOut() const { return bytesOut_.get(); }
  int64_t activeTunnels() const { return activeTunnels_.load(std::memory_order_relaxed); }
  uint64_t dnsCacheHitsValue() const { return dnsCacheHits_.load(std::memory_order_relaxed); }
  uint64_t dnsLookupsValue() const { return dnsLookups_.load(std::memory_order_relaxed); }
  uint64_t authCacheHitsValue() const { return authCacheHits_.load(std::memory_order_relaxed); }
  uint64_t suppressedLines() const { return suppressed_.get(); }
  const LatencyHistogram& connectTime() const { return connectTime_; }
  const LatencyHistogram& firstByteTime() const { return firstByteTime_; }
  const LatencyHistogram& totalTime() const { return totalTime_; }
  // Copies the kept summaries with seq > `since`, oldest first.
  std::vector<ExchangeSummary> recent(uint64_t since) const;

private:
  struct RuleSlot {
    std::string name; // written once before `rulesUsed_` publishes the slot
    SingleWriterCounter allowed;
    SingleWriterCounter refused;
  };
  struct ClientWindow {
    uint64_t windowStart = 0;
    uint64_t written = 0;
    uint64_t suppressed = 0;
  };
  void countRule(std::string_view rule, bool refused);
  static void summarise(const std::string& host, const ClientWindow& window, uint64_t nowMs);

  SharedCounters& shared_;
  DiagnosticLimit limit_;
  std::array<std::array<SingleWriterCounter, kStatusClasses.size()>, kMethodClasses.size()>
      requests_;
  std::array<SingleWriterCounter, static_cast<size_t>(errors::ProxyError::kCount)> errors_;
  std::array<SingleWriterCounter, kRefusalCount> authRefusals_;
  std::array<RuleSlot, kMaxRules + 1> rules_; // the last is "other"
  std::atomic<size_t> rulesUsed_{0};
  std::unordered_map<std::string, size_t> ruleIndex_; // worker thread only
  SingleWriterCounter bytesIn_;
  SingleWriterCounter bytesOut_;
  SingleWriterCounter suppressed_;
  std::atomic<int64_t> activeTunnels_{0};
  std::atomic<uint64_t> dnsCacheHits_{0};
  std::atomic<uint64_t> dnsLookups_{0};
  std::atomic<uint64_t> authCacheHits_{0};
  LatencyHistogram connectTime_;
  LatencyHistogram firstByteTime_;
  LatencyHistogram totalTime_;
  // Worker thread only: diagnostic windows per client host ("" is the shared overflow entry).
  std::unordered_map<std::string, ClientWindow> windows_;
  mutable std::mutex recentMutex_;
  std::deque<ExchangeSummary> recent_;
};

// The telemetry of the worker running on this thread (null outside workers: unit tests).
WorkerTelemetry* currentTelemetry();
void setCurrentTelemetry(WorkerTelemetry* telemetry);

} // namespace gatehouse::proxy
