#include "gatehouse/proxy/telemetry.h"

#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/exchange_record.h"

namespace gatehouse::proxy {

using errors::ProxyError;

namespace {
thread_local WorkerTelemetry* tCurrent = nullptr;

std::string cut(std::string_view text) {
  return std::string(text.substr(0, kMaxSummaryText));
}

// The host part of "host:port" / "[v6]:port": the diagnostic limiter's key.
std::string_view hostOf(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    return close == std::string_view::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  return colon != std::string_view::npos && address.find(':') == colon ? address.substr(0, colon)
                                                                       : address;
}
} // namespace

WorkerTelemetry* currentTelemetry() {
  return tCurrent;
}

void setCurrentTelemetry(WorkerTelemetry* telemetry) {
  tCurrent = telemetry;
}

void LatencyHistogram::observe(uint64_t ms) {
  size_t i = 0;
  while (i < kLatencyBucketsMs.size() && ms > kLatencyBucketsMs[i]) {
    ++i;
  }
  buckets[i].add(1);
  count.add(1);
  sumMs.add(ms);
}

size_t methodClass(std::string_view method) {
  for (size_t i = 0; i + 1 < kMethodClasses.size(); ++i) {
    if (method == kMethodClasses[i]) {
      return i;
    }
  }
  return kMethodClasses.size() - 1;
}

size_t statusClass(int status) {
  if (status >= 100 && status < 600) {
    return static_cast<size_t>(status / 100 - 1);
  }
  return kStatusClasses.size() - 1;
}

auth::Refusal refusalFromDetail(std::string_view detail) {
  constexpr std::string_view kPrefix = "auth: ";
  if (detail.substr(0, kPrefix.size()) != kPrefix) {
    return auth::Refusal::None;
  }
  detail.remove_prefix(kPrefix.size());
  for (size_t r = 1; r < kRefusalCount; ++r) {
    std::string_view name = auth::describe(static_cast<auth::Refusal>(r));
    if (detail.substr(0, name.size()) == name &&
        (detail.size() == name.size() || detail[name.size()] == ' ')) {
      return static_cast<auth::Refusal>(r);
    }
  }
  return auth::Refusal::None;
}

std::string_view refusalLabel(auth::Refusal refusal) {
  switch (refusal) {
  case auth::Refusal::None:
    return "none";
  case auth::Refusal::NoCredentials:
    return "no_credentials";
  case auth::Refusal::UnsupportedScheme:
    return "unsupported_scheme";
  case auth::Refusal::MalformedBase64:
    return "malformed_base64";
  case auth::Refusal::MissingColon:
    return "missing_colon";
  case auth::Refusal::ControlCharacter:
    return "control_character";
  case auth::Refusal::UnknownUser:
    return "unknown_user";
  case auth::Refusal::WrongPassword:
    return "wrong_password";
  case auth::Refusal::UnsupportedHash:
    return "unsupported_hash";
  case auth::Refusal::Throttled:
    return "throttled";
  case auth::Refusal::HelperFailure:
    return "helper_failure";
  case auth::Refusal::BackendBusy:
    return "backend_busy";
  case auth::Refusal::BackendUnavailable:
    return "backend_unavailable";
  }
  return "none";
}

WorkerTelemetry::WorkerTelemetry(SharedCounters& shared, DiagnosticLimit limit)
    : shared_(shared), limit_(limit) {
  rules_[kMaxRules].name = "other";
}

void WorkerTelemetry::countRule(std::string_view rule, bool refused) {
  size_t index = kMaxRules;
  auto it = ruleIndex_.find(std::string(rule));
  if (it != ruleIndex_.end()) {
    index = it->second;
  } else {
    size_t used = rulesUsed_.load(std::memory_order_relaxed);
    if (used < kMaxRules) {
      rules_[used].name = std::string(rule);
      ruleIndex_.emplace(std::string(rule), used);
      rulesUsed_.store(used + 1, std::memory_order_release); // publishes the name
      index = used;
    }
  }
  (refused ? rules_[index].refused : rules_[index].allowed).add(1);
}

std::vector<WorkerTelemetry::RuleCount> WorkerTelemetry::ruleDecisions() const {
  std::vector<RuleCount> out;
  size_t used = rulesUsed_.load(std::memory_order_acquire);
  for (size_t i = 0; i < used; ++i) {
    out.push_back({rules_[i].name, rules_[i].allowed.get(), rules_[i].refused.get()});
  }
  const RuleSlot& other = rules_[kMaxRules];
  if (other.allowed.get() + other.refused.get() > 0) {
    out.push_back({other.name, other.allowed.get(), other.refused.get()});
  }
  return out;
}

void WorkerTelemetry::onFinished(const ExchangeRecord& record, std::string_view client,
                                 uint64_t wallMs) {
  const bool tunnel = record.method == "CONNECT";
  requests_[methodClass(record.method)][statusClass(record.status)].add(1);
  errors_[static_cast<size_t>(record.error)].add(1);
  auth::Refusal refusal = auth::Refusal::None;
  if (record.error == ProxyError::AuthRequired || record.error == ProxyError::AuthThrottled) {
    refusal = refusalFromDetail(record.detail);
    authRefusals_[static_cast<size_t>(refusal)].add(1);
  }
  // A decision was made when the chain finished or refused; errors before it (a bad head)
  // are no policy decision.
  const bool refused = record.cause == EndCause::Refused;
  if (record.decidedMs != 0 || refused) {
    std::string_view rule = record.rule;
    if (rule.empty()) {
      rule = refused ? errors::info(record.error).logName : std::string_view("default");
    }
    countRule(rule, refused);
  }
  bytesIn_.add(record.bytesIn);
  bytesOut_.add(record.bytesOut);
  const uint64_t total = record.endMs - record.startMs;
  totalTime_.observe(total);
  if (record.connectedMs != 0) {
    connectTime_.observe(record.connectedMs - record.startMs);
  }
  if (record.firstByteMs != 0 && !tunnel) {
    firstByteTime_.observe(record.firstByteMs - record.startMs);
  }

  ExchangeSummary s;
  s.seq = shared_.exchangeSequence.fetch_add(1, std::memory_order_relaxed) + 1;
  s.wallMs = wallMs;
  s.id = record.id;
  s.client = std::string(client);
  s.user = cut(record.shownUser());
  s.method = cut(record.method);
  s.target = cut(record.target);
  s.status = record.status;
  if (record.error != ProxyError::None) {
    s.proxyStatus = errors::info(record.error).type;
    s.error = errors::info(record.error).logName;
    s.phase = errors::phaseName(record.phase);
    s.detail = cut(record.detail);
  }
  if (refusal != auth::Refusal::None) {
    s.authReason = auth::describe(refusal);
  }
  s.rule = cut(record.rule);
  s.parent = cut(record.parent);
  s.end = record.terminationCode();
  s.upstream = record.upstreamAddress;
  s.aborted = record.aborted;
  s.bytesIn = record.bytesIn;
  s.bytesOut = record.bytesOut;
  auto since = [&](uint64_t ms) {
    return ms == 0 ? int64_t{-1} : static_cast<int64_t>(ms - record.startMs);
  };
  s.decidedMs = since(record.decidedMs);
  s.connectedMs = since(record.connectedMs);
  s.firstByteMs = since(record.firstByteMs);
  s.totalMs = static_cast<int64_t>(total);
  std::lock_guard<std::mutex> lock(recentMutex_);
  if (recent_.size() == kRecentCapacity) {
    recent_.pop_front();
  }
  recent_.push_back(std::move(s));
}

std::vector<ExchangeSummary> WorkerTelemetry::recent(uint64_t since) const {
  std::lock_guard<std::mutex> lock(recentMutex_);
  std::vector<ExchangeSummary> out;
  for (const ExchangeSummary& s : recent_) {
    if (s.seq > since) {
      out.push_back(s);
    }
  }
  return out;
}

bool WorkerTelemetry::allowDiagnostic(std::string_view client, uint64_t nowMs) {
  std::string host(hostOf(client));
  auto it = windows_.find(host);
  if (it == windows_.end()) {
    if (windows_.size() >= limit_.maxClients) {
      host.clear(); // the shared entry for everyone past the bound
    }
    it = windows_.try_emplace(host, ClientWindow{nowMs, 0, 0}).first;
  }
  ClientWindow& window = it->second;
  if (nowMs - window.windowStart >= limit_.windowMs) {
    summarise(it->first, window, nowMs);
    window = ClientWindow{nowMs, 0, 0};
  }
  if (window.written < limit_.linesPerWindow) {
    ++window.written;
    return true;
  }
  ++window.suppressed;
  suppressed_.add(1);
  return false;
}

void WorkerTelemetry::summarise(const std::string& host, const ClientWindow& window,
                                uint64_t nowMs) {
  if (window.suppressed > 0) {
    log::diag().info("client {}: suppressed {} similar lines (refused requests) in the last {} ms",
                     host.empty() ? "(others)" : host, window.suppressed,
                     nowMs - window.windowStart);
  }
}

void WorkerTelemetry::flushSuppressed(uint64_t nowMs, bool all) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    ClientWindow& window = it->second;
    if (!all && nowMs - window.windowStart < limit_.windowMs) {
      ++it;
      continue;
    }
    summarise(it->first, window, nowMs);
    it = windows_.erase(it); // ended windows leave the table: it only holds active clients
  }
}

} // namespace gatehouse::proxy
