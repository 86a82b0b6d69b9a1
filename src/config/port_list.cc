#include "gatehouse/config/port_list.h"

namespace gatehouse::config {

namespace {

std::optional<uint16_t> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) {
    return std::nullopt;
  }
  unsigned n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n == 0 || n > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(n);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

std::optional<PortList> PortList::parse(std::string_view text, std::string& error) {
  PortList out;
  text = trim(text);
  if (text == "*") {
    return any();
  }
  if (text.empty()) {
    error = "empty port list (use * for any port)";
    return std::nullopt;
  }
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    size_t dash = item.find('-');
    auto first = parsePort(item.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : parsePort(item.substr(dash + 1));
    if (!first || !last) {
      error = "invalid port or range \"" + std::string(item) + "\" (ports are 1-65535)";
      return std::nullopt;
    }
    if (*last < *first) {
      error = "reversed range \"" + std::string(item) + "\"";
      return std::nullopt;
    }
    out.ranges_.emplace_back(*first, *last);
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  return out;
}

bool PortList::allows(uint16_t port) const {
  if (any_) {
    return true;
  }
  for (auto [lo, hi] : ranges_) {
    if (port >= lo && port <= hi) {
      return true;
    }
  }
  return false;
}

std::string PortList::toString() const {
  if (any_) {
    return "*";
  }
  std::string out;
  for (auto [lo, hi] : ranges_) {
    if (!out.empty()) {
      out += ",";
    }
    out += std::to_string(lo);
    if (hi != lo) {
      out += "-" + std::to_string(hi);
    }
  }
  return out;
}

} // namespace gatehouse::config
