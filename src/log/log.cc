#include "gatehouse/log/log.h"

#include "gatehouse/log/reopenable_file_sink.h"
#include <ctime>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace gatehouse::log {

namespace {
std::shared_ptr<spdlog::logger>& diagLogger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("gatehouse");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
    return l;
  }();
  return logger;
}
std::shared_ptr<spdlog::logger>& accessLogger() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}

// The access log's file sink, when it writes to a file (reopenFiles() reaches it).
std::shared_ptr<ReopenableFileSink>& accessFileSink() {
  static std::shared_ptr<ReopenableFileSink> sink;
  return sink;
}

// Set once at start-up, before the workers run.
AccessFormat gAccessFormat = AccessFormat::Gatehouse;

// The client's address without its port ("[::1]:5" -> "::1"): Squid and NCSA log hosts.
std::string_view hostOf(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    return close == std::string_view::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  if (colon != std::string_view::npos && address.find(':') == colon) {
    return address.substr(0, colon);
  }
  return address;
}

// A whitespace-separated field: bytes that could split or forge it are %-escaped (RFC 3986
// style, as Squid does for URLs and user names); empty becomes "-".
std::string fieldEscaped(std::string_view text) {
  if (text.empty()) {
    return "-";
  }
  std::string out;
  out.reserve(text.size());
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '%') {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// Squid's result code (LogTags): how the request was handled, with _ABORTED / _TIMEDOUT when
// it did not complete. TCP_DENIED for access refusals, NONE_NONE for requests the proxy could
// not even take (Squid 4 and later spell it so), TCP_TUNNEL for CONNECT.
std::string squidCode(const AccessRecord& r) {
  const char cause = r.termination.empty() ? '-' : r.termination.front();
  std::string code;
  if (cause == 'P') {
    code =
        r.status == 403 || r.status == 407 || r.status == 429 || r.status == 495 || r.status == 496
            ? "TCP_DENIED"
            : "NONE_NONE";
  } else if (r.method == "CONNECT") {
    code = "TCP_TUNNEL";
  } else if (r.upstream.empty() && (cause == '-' || cause == 'R' || cause == 'K' || cause == 'I' ||
                                    cause == 'c' || cause == 'C')) {
    code = "NONE_NONE"; // answered by the proxy itself, or ended before any upstream
  } else {
    code = "TCP_MISS";
  }
  if (cause == 'C' || (r.aborted && cause != 'c' && cause != 's')) {
    code += "_ABORTED";
  } else if (cause == 'c' || cause == 's') {
    code += "_TIMEDOUT";
  }
  return code;
}

std::string squidLine(const AccessRecord& r) {
  std::string_view upstreamHost = hostOf(r.upstream);
  return fmt::format("{}.{:03} {:>6} {} {}/{:03} {} {} {} {} {}/{} -", r.wallMs / 1000,
                     r.wallMs % 1000, r.durationMs, fieldEscaped(hostOf(r.client)), squidCode(r),
                     r.status, r.bytesOut, fieldEscaped(r.method), fieldEscaped(r.target),
                     fieldEscaped(r.user),
                     upstreamHost.empty() ? "HIER_NONE"
                     : r.parent.empty()   ? "HIER_DIRECT"
                                          : "FIRSTUP_PARENT",
                     upstreamHost.empty() ? "-" : upstreamHost);
}

// NCSA combined: host ident user [time] "request" status bytes "referer" "agent", then the
// Proxy-Status type, the end code and the request id (tools reading combined stop before).
std::string commonLine(const AccessRecord& r) {
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = static_cast<std::time_t>(r.wallMs / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::string bytes = r.bytesOut == 0 ? "-" : std::to_string(r.bytesOut);
  return fmt::format("{} - {} [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"{} {}\" {} {} \"-\" "
                     "\"-\" \"{}\" {} {}",
                     fieldEscaped(hostOf(r.client)), fieldEscaped(r.user), tm.tm_mday,
                     months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     fieldEscaped(r.method), fieldEscaped(r.target), r.status, bytes,
                     r.proxyStatus.empty() ? "-" : r.proxyStatus,
                     r.termination.empty() ? "--" : r.termination, r.requestId);
}

std::string jsonLine(const AccessRecord& r) {
  std::time_t seconds = static_cast<std::time_t>(r.wallMs / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  auto optionalString = [](std::string_view s) { return s.empty() ? "null" : jsonString(s); };
  auto optionalMs = [](int64_t ms) { return ms < 0 ? std::string("null") : std::to_string(ms); };
  return fmt::format(
      "{{\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"id\":{},\"client\":{},"
      "\"user\":{},\"method\":{},\"target\":{},\"status\":{},\"bytes_in\":{},"
      "\"bytes_out\":{},\"duration_ms\":{},\"connect_ms\":{},\"first_byte_ms\":{},"
      "\"upstream\":{},\"proxy_status\":{},\"phase\":{},\"end\":{},\"aborted\":{},"
      "\"auth_reason\":{},\"rule\":{},\"parent\":{},\"detail\":{}}}",
      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
      r.wallMs % 1000, jsonString(r.requestId), jsonString(r.client), optionalString(r.user),
      jsonString(r.method), jsonString(r.target), r.status, r.bytesIn, r.bytesOut, r.durationMs,
      optionalMs(r.connectMs), optionalMs(r.firstByteMs), optionalString(r.upstream),
      optionalString(r.proxyStatus), optionalString(r.phase),
      jsonString(r.termination.empty() ? "--" : r.termination), r.aborted ? "true" : "false",
      optionalString(r.authReason), optionalString(r.rule), optionalString(r.parent),
      optionalString(r.detail));
}

std::string gatehouseLine(const AccessRecord& r) {
  return fmt::format(
      "id={} client={} user={} method={} target={} status={} in={} out={} ms={} "
      "upstream={} error={}{}{} end={}{}{}{}{}{}{}",
      r.requestId, r.client, r.user.empty() ? "-" : quoted(r.user), r.method, quoted(r.target),
      r.status, r.bytesIn, r.bytesOut, r.durationMs, r.upstream.empty() ? "-" : r.upstream,
      r.proxyStatus.empty() ? "-" : r.proxyStatus, r.phase.empty() ? "" : " phase=", r.phase,
      r.termination.empty() ? "--" : r.termination, r.rule.empty() ? "" : " rule=", r.rule,
      r.wouldDeny.empty() ? "" : " would_deny=", r.wouldDeny,
      r.authReason.empty() ? "" : " auth=", r.authReason.empty() ? "" : quoted(r.authReason));
}
} // namespace

std::optional<AccessFormat> parseAccessFormat(std::string_view name) {
  if (name == "gatehouse") {
    return AccessFormat::Gatehouse;
  }
  if (name == "squid") {
    return AccessFormat::Squid;
  }
  if (name == "common") {
    return AccessFormat::Common;
  }
  if (name == "json") {
    return AccessFormat::Json;
  }
  return std::nullopt;
}

void setAccessFormat(AccessFormat format) {
  gAccessFormat = format;
  // Only the access log's own sink: sinks added for tests keep their formatter.
  if (accessLogger() && !accessLogger()->sinks().empty()) {
    accessLogger()->sinks().front()->set_pattern(
        format == AccessFormat::Gatehouse ? "%Y-%m-%dT%H:%M:%S.%e access %v" : "%v");
  }
}

std::string formatAccess(const AccessRecord& record, AccessFormat format) {
  switch (format) {
  case AccessFormat::Squid:
    return squidLine(record);
  case AccessFormat::Common:
    return commonLine(record);
  case AccessFormat::Json:
    return jsonLine(record);
  case AccessFormat::Gatehouse:
    break;
  }
  return gatehouseLine(record);
}

void setup(const std::string& level, const std::string& accessLog) {
  diagLogger()->set_level(spdlog::level::from_str(level));
  diagLogger()->flush_on(spdlog::level::info);
  if (accessLog == "off") {
    accessLogger().reset();
    return;
  }
  std::shared_ptr<spdlog::logger> logger;
  if (accessLog == "-") {
    logger = std::make_shared<spdlog::logger>("access",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    try {
      accessFileSink() = std::make_shared<ReopenableFileSink>(accessLog);
      logger = std::make_shared<spdlog::logger>("access", accessFileSink());
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open access log " + accessLog + ": " + e.what());
    }
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e access %v");
  logger->flush_on(spdlog::level::info);
  accessLogger() = logger;
}

std::string reopenFiles() {
  auto sink = accessFileSink();
  if (!sink) {
    return "SIGUSR1: no log file to reopen";
  }
  if (std::string error = sink->reopen(); !error.empty()) {
    return "SIGUSR1: cannot reopen access log " + sink->path() + ": " + error;
  }
  return "SIGUSR1: reopened access log " + sink->path();
}

spdlog::logger& diag() {
  return *diagLogger();
}

void addSink(std::shared_ptr<spdlog::sinks::sink> sink) {
  diagLogger()->sinks().push_back(sink);
  if (accessLogger()) {
    accessLogger()->sinks().push_back(sink);
  }
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

std::string jsonString(std::string_view text) {
  std::string out = "\"";
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

void access(const AccessRecord& r) {
  auto& logger = accessLogger();
  if (!logger) {
    return;
  }
  logger->info("{}", formatAccess(r, gAccessFormat));
}

} // namespace gatehouse::log
