#include "gatehouse/log/log.h"

#include "gatehouse/log/reopenable_file_sink.h"
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
} // namespace

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

void access(const AccessRecord& r) {
  auto& logger = accessLogger();
  if (!logger) {
    return;
  }
  logger->info("id={} client={} user={} method={} target={} status={} in={} out={} ms={} "
               "upstream={} error={}{}{} end={}{}{}{}{}",
               r.requestId, r.client, r.user.empty() ? "-" : quoted(r.user), r.method,
               quoted(r.target), r.status, r.bytesIn, r.bytesOut, r.durationMs,
               r.upstream.empty() ? "-" : r.upstream, r.proxyStatus.empty() ? "-" : r.proxyStatus,
               r.phase.empty() ? "" : " phase=", r.phase,
               r.termination.empty() ? "--" : r.termination, r.rule.empty() ? "" : " rule=", r.rule,
               r.wouldDeny.empty() ? "" : " would_deny=", r.wouldDeny);
}

} // namespace gatehouse::log
