#pragma once
// Reads one HTTP response from a probe connection, tolerantly: a head that a strict parser
// refuses is still read (and the refusal reported), and bytes that are not HTTP at all are
// kept for the report. Interim 1xx responses are skipped and remembered.

#include <chrono>
#include <string>

#include "gatehouse/probe/connection.h"
#include "gatehouse/probe/probe.h"

namespace gatehouse::probe {

// Limits on what a probe reads from one response.
inline constexpr size_t kMaxHeadBytes = 64 * 1024;
inline constexpr size_t kMaxBodyBytes = 1024 * 1024;

// Reads a response to `method`. Returns false with `error` set when no response head came
// (closed, reset, timeout). `body`, when given, receives up to kMaxBodyBytes of the body.
bool readResponse(Connection& connection, const std::string& method,
                  std::chrono::milliseconds timeout, ResponseRecord& record, std::string& error,
                  std::string* body = nullptr);

// Parses a response head leniently (CRLF or LF line ends). False when it is not HTTP.
bool parseHeadLenient(std::string_view head, ResponseRecord& record);

} // namespace gatehouse::probe
