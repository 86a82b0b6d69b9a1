#include "gatehouse/admin/metrics.h"

#include <fmt/format.h>
#include <map>

#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/telemetry.h"

namespace gatehouse::admin {

using proxy::WorkerTelemetry;

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value) {
  if (labels.empty()) {
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  } else {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
  }
}

template <typename Get> uint64_t sum(const std::vector<const WorkerTelemetry*>& workers, Get get) {
  uint64_t total = 0;
  for (const WorkerTelemetry* w : workers) {
    total += get(*w);
  }
  return total;
}

// One histogram family from each worker's histogram (selected by `which`), in seconds.
template <typename Which>
void histogram(std::string& out, const std::vector<const WorkerTelemetry*>& workers,
               std::string_view name, std::string_view help, Which which) {
  family(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= proxy::kLatencyBucketsMs.size(); ++i) {
    cumulative += sum(workers, [&](const WorkerTelemetry& w) { return which(w).buckets[i].get(); });
    std::string le =
        i < proxy::kLatencyBucketsMs.size()
            ? fmt::format("{}", static_cast<double>(proxy::kLatencyBucketsMs[i]) / 1000)
            : std::string("+Inf");
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, le, cumulative);
  }
  // _count is the +Inf bucket by construction (read once, so a scrape racing traffic agrees).
  uint64_t sumMs = sum(workers, [&](const WorkerTelemetry& w) { return which(w).sumMs.get(); });
  fmt::format_to(std::back_inserter(out), "{}_sum {}\n{}_count {}\n", name,
                 static_cast<double>(sumMs) / 1000, name, cumulative);
}

} // namespace

std::string escapeLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string renderMetrics(const std::vector<const WorkerTelemetry*>& workers,
                          const proxy::SharedCounters& shared) {
  std::string out;
  out.reserve(8192);
  const size_t connect = proxy::methodClass("CONNECT");

  family(out, "gatehouse_requests_total", "counter",
         "Requests finished (CONNECT excluded), by method and status class");
  for (size_t m = 0; m < proxy::kMethodClasses.size(); ++m) {
    if (m == connect) {
      continue;
    }
    for (size_t s = 0; s < proxy::kStatusClasses.size(); ++s) {
      uint64_t n = sum(workers, [&](const WorkerTelemetry& w) { return w.requests(m, s); });
      if (n > 0) {
        sample(out, "gatehouse_requests_total",
               fmt::format("method=\"{}\",code=\"{}\"", proxy::kMethodClasses[m],
                           proxy::kStatusClasses[s]),
               n);
      }
    }
  }
  family(out, "gatehouse_tunnels_total", "counter",
         "CONNECT tunnels finished, by the status class answered to CONNECT");
  for (size_t s = 0; s < proxy::kStatusClasses.size(); ++s) {
    uint64_t n = sum(workers, [&](const WorkerTelemetry& w) { return w.requests(connect, s); });
    if (n > 0) {
      sample(out, "gatehouse_tunnels_total", fmt::format("code=\"{}\"", proxy::kStatusClasses[s]),
             n);
    }
  }

  family(out, "gatehouse_proxy_errors_total", "counter",
         "Exchanges that failed, by Proxy-Status error type (RFC 9209) and Gatehouse error");
  for (size_t e = 1; e < static_cast<size_t>(errors::ProxyError::kCount); ++e) {
    auto error = static_cast<errors::ProxyError>(e);
    uint64_t n = sum(workers, [&](const WorkerTelemetry& w) { return w.errors(error); });
    if (n > 0) {
      const errors::ErrorInfo& info = errors::info(error);
      sample(out, "gatehouse_proxy_errors_total",
             fmt::format("type=\"{}\",error=\"{}\"", info.type, info.logName), n);
    }
  }

  family(out, "gatehouse_auth_refusals_total", "counter",
         "Requests refused by proxy authentication (407, 429), by reason");
  for (size_t r = 1; r < proxy::kRefusalCount; ++r) {
    uint64_t n = sum(workers, [&](const WorkerTelemetry& w) { return w.authRefusals(r); });
    if (n > 0) {
      sample(out, "gatehouse_auth_refusals_total",
             fmt::format("reason=\"{}\"", proxy::refusalLabel(static_cast<auth::Refusal>(r))), n);
    }
  }

  family(out, "gatehouse_policy_decisions_total", "counter",
         "Decisions of the request-policy chain, by rule (the refusing check's error when no "
         "named rule decided; \"default\" when every check passed) and decision");
  std::map<std::string, std::pair<uint64_t, uint64_t>> rules;
  for (const WorkerTelemetry* w : workers) {
    for (const auto& rc : w->ruleDecisions()) {
      rules[rc.rule].first += rc.allowed;
      rules[rc.rule].second += rc.refused;
    }
  }
  for (const auto& [rule, counts] : rules) {
    if (counts.first > 0) {
      sample(out, "gatehouse_policy_decisions_total",
             fmt::format("rule=\"{}\",decision=\"allow\"", escapeLabel(rule)), counts.first);
    }
    if (counts.second > 0) {
      sample(out, "gatehouse_policy_decisions_total",
             fmt::format("rule=\"{}\",decision=\"refuse\"", escapeLabel(rule)), counts.second);
    }
  }

  family(out, "gatehouse_client_connections", "gauge", "Client connections open now");
  sample(out, "gatehouse_client_connections", "",
         shared.clientConnections.load(std::memory_order_relaxed));
  family(out, "gatehouse_tunnels_active", "gauge", "CONNECT tunnels open now");
  int64_t tunnels = 0;
  for (const WorkerTelemetry* w : workers) {
    tunnels += w->activeTunnels();
  }
  sample(out, "gatehouse_tunnels_active", "", static_cast<uint64_t>(tunnels < 0 ? 0 : tunnels));

  family(out, "gatehouse_client_received_bytes_total", "counter",
         "Bytes received from clients (request heads, bodies, tunnel payload)");
  sample(out, "gatehouse_client_received_bytes_total", "",
         sum(workers, [](const WorkerTelemetry& w) { return w.clientBytesIn(); }));
  family(out, "gatehouse_client_sent_bytes_total", "counter",
         "Bytes sent to clients (response heads, bodies, tunnel payload)");
  sample(out, "gatehouse_client_sent_bytes_total", "",
         sum(workers, [](const WorkerTelemetry& w) { return w.clientBytesOut(); }));

  histogram(
      out, workers, "gatehouse_upstream_connect_seconds",
      "Time from the request head to an upstream connection ready (new or reused)",
      [](const WorkerTelemetry& w) -> const proxy::LatencyHistogram& { return w.connectTime(); });
  histogram(
      out, workers, "gatehouse_first_byte_seconds",
      "Time from the request head to the first response byte sent to the client",
      [](const WorkerTelemetry& w) -> const proxy::LatencyHistogram& { return w.firstByteTime(); });
  histogram(
      out, workers, "gatehouse_exchange_duration_seconds",
      "Time from the request head to the end of the exchange (tunnels: to their close)",
      [](const WorkerTelemetry& w) -> const proxy::LatencyHistogram& { return w.totalTime(); });

  family(out, "gatehouse_dns_lookups_total", "counter", "DNS lookups sent to the resolvers");
  sample(out, "gatehouse_dns_lookups_total", "",
         sum(workers, [](const WorkerTelemetry& w) { return w.dnsLookupsValue(); }));
  family(out, "gatehouse_dns_cache_hits_total", "counter",
         "Host names answered from the DNS cache without a lookup");
  sample(out, "gatehouse_dns_cache_hits_total", "",
         sum(workers, [](const WorkerTelemetry& w) { return w.dnsCacheHitsValue(); }));
  family(out, "gatehouse_upstream_connections_opened_total", "counter",
         "New TCP connections to upstreams");
  sample(out, "gatehouse_upstream_connections_opened_total", "",
         shared.upstreamConnectsOpened.load(std::memory_order_relaxed));
  family(out, "gatehouse_upstream_connection_reuses_total", "counter",
         "Requests sent on a pooled keep-alive upstream connection");
  sample(out, "gatehouse_upstream_connection_reuses_total", "",
         shared.upstreamReuses.load(std::memory_order_relaxed));
  family(out, "gatehouse_auth_cache_hits_total", "counter",
         "Credentials accepted from the cache of recent verifications (no password hash run)");
  sample(out, "gatehouse_auth_cache_hits_total", "",
         sum(workers, [](const WorkerTelemetry& w) { return w.authCacheHitsValue(); }));
  family(out, "gatehouse_spliced_tunnels_total", "counter", "Tunnels that switched to splice(2)");
  sample(out, "gatehouse_spliced_tunnels_total", "",
         shared.splicedTunnels.load(std::memory_order_relaxed));
  family(out, "gatehouse_spliced_body_bytes_total", "counter",
         "Response body bytes moved by splice(2)");
  sample(out, "gatehouse_spliced_body_bytes_total", "",
         shared.splicedBodyBytes.load(std::memory_order_relaxed));
  family(out, "gatehouse_suppressed_log_lines_total", "counter",
         "Diagnostic lines of refused requests held back by the per-client limit");
  sample(out, "gatehouse_suppressed_log_lines_total", "",
         sum(workers, [](const WorkerTelemetry& w) { return w.suppressedLines(); }));
  family(out, "gatehouse_workers", "gauge", "Worker event loops");
  sample(out, "gatehouse_workers", "", workers.size());
  return out;
}

} // namespace gatehouse::admin
