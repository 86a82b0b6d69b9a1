#include "gatehouse/admin/live_view.h"

#include <algorithm>
#include <fmt/format.h>

#include "gatehouse/log/log.h"
#include "gatehouse/proxy/telemetry.h"

namespace gatehouse::admin {

using proxy::ExchangeSummary;

namespace {
std::string optionalString(const std::string& s) {
  return s.empty() ? "null" : log::jsonString(s);
}
std::string optionalMs(int64_t ms) {
  return ms < 0 ? std::string("null") : std::to_string(ms);
}
} // namespace

std::string summaryJson(const ExchangeSummary& s) {
  return fmt::format(
      "{{\"seq\":{},\"time\":{},\"id\":{},\"client\":{},\"user\":{},\"method\":{},\"target\":{},"
      "\"status\":{},\"proxy_status\":{},\"error\":{},\"phase\":{},\"auth_reason\":{},"
      "\"rule\":{},\"parent\":{},\"detail\":{},\"end\":{},\"upstream\":{},\"aborted\":{},\"bytes_"
      "in\":{},"
      "\"bytes_out\":{},\"decided_ms\":{},\"connected_ms\":{},\"first_byte_ms\":{},"
      "\"total_ms\":{}}}",
      s.seq, s.wallMs, log::jsonString(s.id), log::jsonString(s.client), optionalString(s.user),
      log::jsonString(s.method), log::jsonString(s.target), s.status, optionalString(s.proxyStatus),
      optionalString(s.error), optionalString(s.phase), optionalString(s.authReason),
      optionalString(s.rule), optionalString(s.parent), optionalString(s.detail),
      log::jsonString(s.end), optionalString(s.upstream), s.aborted ? "true" : "false", s.bytesIn,
      s.bytesOut, optionalMs(s.decidedMs), optionalMs(s.connectedMs), optionalMs(s.firstByteMs),
      s.totalMs);
}

std::string exchangesJson(const std::vector<const proxy::WorkerTelemetry*>& workers, uint64_t since,
                          uint64_t newest) {
  std::vector<ExchangeSummary> all;
  for (const proxy::WorkerTelemetry* w : workers) {
    auto recent = w->recent(since);
    std::move(recent.begin(), recent.end(), std::back_inserter(all));
  }
  std::sort(all.begin(), all.end(),
            [](const ExchangeSummary& a, const ExchangeSummary& b) { return a.seq < b.seq; });
  size_t first = all.size() > kMaxExchangesPerAnswer ? all.size() - kMaxExchangesPerAnswer : 0;
  uint64_t last = all.empty() ? since : all.back().seq;
  std::string out = fmt::format("{{\"last\":{},\"newest\":{},\"exchanges\":[", last, newest);
  for (size_t i = first; i < all.size(); ++i) {
    if (i != first) {
      out.push_back(',');
    }
    out += summaryJson(all[i]);
  }
  out += "]}";
  return out;
}

std::optional<std::string> exchangeJson(const std::vector<const proxy::WorkerTelemetry*>& workers,
                                        std::string_view id) {
  for (const proxy::WorkerTelemetry* w : workers) {
    for (const ExchangeSummary& s : w->recent(0)) {
      if (s.id == id) {
        return summaryJson(s);
      }
    }
  }
  return std::nullopt;
}

} // namespace gatehouse::admin
