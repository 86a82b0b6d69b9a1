#pragma once
// /metrics: the workers' telemetry summed into Prometheus' text exposition format 0.0.4
// (TYPE and HELP before each family, counters end in _total, histograms in seconds with
// cumulative _bucket{le} and le="+Inf" equal to _count). Written by hand like HAProxy's
// promex: no client library, rendered on the admin thread from relaxed reads.

#include <string>
#include <vector>

namespace gatehouse::proxy {
class WorkerTelemetry;
struct SharedCounters;
} // namespace gatehouse::proxy

namespace gatehouse::admin {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The whole exposition for these workers and the shared counters.
std::string renderMetrics(const std::vector<const proxy::WorkerTelemetry*>& workers,
                          const proxy::SharedCounters& shared);

// A label value escaped for the exposition format (backslash, quote, newline).
std::string escapeLabel(std::string_view value);

} // namespace gatehouse::admin
