#pragma once
// Logging: diagnostics to stderr through spdlog, and one access line per request or tunnel.

#include <cstdint>
#include <memory>
#include <optional>
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
// How access lines are written (access_log_format): Gatehouse's key=value line, Squid's native
// access.log, the NCSA/Apache combined format, or one JSON object per line.
enum class AccessFormat : uint8_t { Gatehouse, Squid, Common, Json };
// Parses "gatehouse", "squid", "common" or "json".
std::optional<AccessFormat> parseAccessFormat(std::string_view name);
// Selects the access line format (call after setup(); Gatehouse by default). The non-native
// formats carry their own time stamp, so their lines get no logger prefix.
void setAccessFormat(AccessFormat format);

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
  uint64_t wallMs = 0;          // when it ended, ms since the Unix epoch (Squid, common, JSON)
  bool aborted = false;         // the response was cut after it started
  std::string_view authReason;  // why credentials were refused, empty when they were not
  std::string_view rule;        // the policy rule that decided, empty when none
  std::string_view wouldDeny;   // a report-mode rule that would have denied it
  std::string_view parent;      // the [[parent]] proxy it went through, empty: direct
  std::string_view detail;      // the failure's detail (JSON only)
  int64_t connectMs = -1;       // start to upstream ready, -1: never (JSON only)
  int64_t firstByteMs = -1;     // start to first response byte, -1: never (JSON only)
};
void access(const AccessRecord& record);
// One access line in `format` (what access() writes, without the Gatehouse logger prefix).
std::string formatAccess(const AccessRecord& record, AccessFormat format);

// Quotes a client-supplied string for a log line: control bytes, quotes and backslashes are
// escaped so one request can never forge or split log lines.
std::string quoted(std::string_view text);
// `text` as a JSON string with its quotes (control bytes and non-ASCII bytes escaped as \u00XX,
// so the line stays one valid line whatever a client sent).
std::string jsonString(std::string_view text);

} // namespace gatehouse::log
