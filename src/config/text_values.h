#pragma once
// For src/config only: checks on plain setting text shared by the settings table and the
// [[rule]] and [[parent]] tables.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::config {

// RFC 9110 tchar: what a token (method, pseudonym, rule or parent name) is made of.
inline bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A whole number within [min, max], or nullopt.
inline std::optional<uint64_t> parseCount(const std::string& v, uint64_t min, uint64_t max) {
  if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  uint64_t n = std::stoull(v);
  if (n < min || n > max) {
    return std::nullopt;
  }
  return n;
}

} // namespace gatehouse::config
