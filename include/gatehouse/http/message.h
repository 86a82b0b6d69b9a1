#pragma once
// The HTTP message model: ordered header lists (duplicates kept) and request/response heads.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::http {

// ASCII case-insensitive comparison, the rule for field names and most tokens.
bool equalsIgnoreCase(std::string_view a, std::string_view b);
// Trims optional whitespace (SP and HTAB) from both ends.
std::string_view trimOws(std::string_view s);
// The value of one hex digit (either case), or -1: percent-escapes in URLs and helper lines.
int hexDigitValue(char c);

// One field line, exactly as received (name case and value bytes preserved).
struct Header {
  std::string name;
  std::string value;
};

// Field lines in received order. Never reordered; removal builds a new list.
class HeaderList {
public:
  void add(std::string name, std::string value) {
    fields_.push_back({std::move(name), std::move(value)});
  }
  const std::vector<Header>& fields() const { return fields_; }
  std::vector<Header>& fields() { return fields_; }
  bool empty() const { return fields_.empty(); }
  size_t size() const { return fields_.size(); }

  // First value of a field, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  size_t count(std::string_view name) const;
  // Every comma-separated element of every line of the field, trimmed, empty ones skipped.
  std::vector<std::string_view> tokens(std::string_view name) const;
  // True when some line of the field lists `token` (case-insensitive).
  bool hasToken(std::string_view name, std::string_view token) const;
  // Zeroes the values of every line of `name` (their whole capacity) before they are freed:
  // for fields that carry credentials (Proxy-Authorization).
  void wipe(std::string_view name);

private:
  std::vector<Header> fields_;
};

// A parsed request head.
struct RequestHead {
  std::string method;
  std::string target;
  int versionMajor = 1;
  int versionMinor = 1;
  HeaderList headers;

  bool isConnect() const { return method == "CONNECT"; }
  std::string version() const;
};

// A parsed response head.
struct ResponseHead {
  int status = 0;
  std::string reason;
  int versionMajor = 1;
  int versionMinor = 1;
  HeaderList headers;
};

// The standard reason phrase for a status code ("Bad Gateway"), or "Unknown".
std::string_view reasonPhrase(int status);

} // namespace gatehouse::http
