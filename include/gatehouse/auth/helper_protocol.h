#pragma once
// Squid's helper line protocol (squid-cache.org "AddonHelpers"): one request line in, exactly
// one reply line out, an optional leading channel ID when the helper is concurrent, a result
// code (OK, ERR, BH) and key=value pairs. Fields are RFC 1738 %-escaped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::auth {

// The result code of one reply.
enum class HelperResult {
  Ok,           // "OK": accepted / member
  Err,          // "ERR": refused / not a member
  BrokenHelper, // "BH": the helper could not decide (its trouble, not the user's)
  Unknown,      // anything else: a helper speaking another protocol, or garbage
};
const char* resultName(HelperResult result);

struct HelperReply {
  std::optional<uint64_t> channel; // set when the line started with a channel ID
  HelperResult result = HelperResult::Unknown;
  // key=value pairs in order (values unescaped); BH's free text is kept as "message".
  std::vector<std::pair<std::string, std::string>> notes;
  // The first value of `key`, or empty.
  std::string_view note(std::string_view key) const;
};

// Parses one reply line (without its newline). With `withChannel`, the line must start with
// a decimal channel ID and a space; nullopt when it does not (the reply cannot be matched).
std::optional<HelperReply> parseHelperReply(std::string_view line, bool withChannel);

// RFC 1738 escaping as Squid's rfc1738_escape does for helper fields: everything except
// letters, digits and "-._~" becomes %XX, so a space, a newline or a '%' cannot split or
// forge a field.
std::string helperEscape(std::string_view text);
// The same, appended to `out` (which the caller reserves: a secret is never reallocated).
void appendHelperEscaped(std::string& out, std::string_view text);
// %XX decoding; an invalid escape is kept as is.
std::string helperUnescape(std::string_view text);
// A reply line or part of one, safe to log: truncated, control bytes escaped.
std::string loggableReply(std::string_view line);

// Splits helper output into lines: feed bytes, take complete lines. A line longer than
// `maxLine` is an error (the helper is broken) rather than unbounded memory.
class LineSplitter {
public:
  explicit LineSplitter(size_t maxLine = 8192) : maxLine_(maxLine) {}
  // Appends `bytes`; returns false once a line exceeded the limit.
  bool feed(std::string_view bytes);
  // The next complete line (without "\n" or "\r\n"), or nullopt.
  std::optional<std::string> next();
  void clear() { buffer_.clear(); }

private:
  std::string buffer_;
  size_t maxLine_;
};

} // namespace gatehouse::auth
