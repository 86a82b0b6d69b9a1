#pragma once
// The live view: recent exchanges as JSON for the page at "/", and the page itself (HTML, CSS
// and a little JavaScript compiled into the binary; no framework, no build step). Summaries
// hold no credentials and no bodies; the page inserts every value as text, never as HTML.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::proxy {
class WorkerTelemetry;
struct ExchangeSummary;
} // namespace gatehouse::proxy

namespace gatehouse::admin {

// At most this many exchanges per answer (the newest).
inline constexpr size_t kMaxExchangesPerAnswer = 500;

// {"last":<highest seq returned, else since>,"newest":<newest>,"exchanges":[...]}: every kept
// exchange with seq > `since`, merged across workers, oldest first. `newest` is the sequence
// counter now: below the page's `since`, the proxy restarted.
std::string exchangesJson(const std::vector<const proxy::WorkerTelemetry*>& workers, uint64_t since,
                          uint64_t newest);
// One exchange by request id as a JSON object, or nullopt when it is no longer kept.
std::optional<std::string> exchangeJson(const std::vector<const proxy::WorkerTelemetry*>& workers,
                                        std::string_view id);
std::string summaryJson(const proxy::ExchangeSummary& summary);

// The page's files.
std::string_view liveViewHtml();
std::string_view liveViewCss();
std::string_view liveViewScript();

} // namespace gatehouse::admin
