#pragma once
// Logging: diagnostics to stderr through spdlog, and one access line per request or tunnel.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace gatehouse::log {

// Sets up the diagnostic logger (stderr) and the access log ("-": stderr, "off": none, else a
// file appended to). Throws std::runtime_error if the access log cannot be opened.
void setup(const std::string& level, const std::string& accessLog);

// Reopens the access log file by name (after logrotate moved it); a line for the log saying
// what happened. Thread-safe: lines written meanwhile wait for the sink's lock.
std::string reopenFiles();
// Sends diagnostic and access lines to `sink` as well (tests read what operators would).
void addSink(std::shared_ptr<spdlog::sinks::sink> sink);

// The diagnostic logger. Lines carry ids (connection "c12", request "c12.3"), never secrets.
spdlog::logger& diag();

// One finished request or tunnel.
struct AccessRecord {
  std::string_view requestId;
  std::string_view client;
  std::string_view user;
  std::string_view method;
  std::string_view target;
  int status = 0;
  uint64_t bytesIn = 0;  // from the client
  uint64_t bytesOut = 0; // to the client
  uint64_t durationMs = 0;
  std::string_view upstream;
  std::string_view proxyStatus; // Proxy-Status error type, empty when none
  std::string_view phase;       // where an error happened, empty when none
  std::string_view termination; // two-letter end code (who, phase); "--" for a normal end
  std::string_view rule;        // the egress rule that decided, when rules ran
  std::string_view wouldDeny;   // a report-mode rule that would have denied it
};
void access(const AccessRecord& record);

// Quotes a client-supplied string for a log line: control bytes, quotes and backslashes are
// escaped so one request can never forge or split log lines.
std::string quoted(std::string_view text);

} // namespace gatehouse::log
