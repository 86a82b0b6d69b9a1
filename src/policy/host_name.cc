#include "gatehouse/policy/host_name.h"

#include <vector>

namespace gatehouse::policy {

namespace {

// WHATWG "IPv4 number parser": 0x prefix is hex, a leading 0 is octal, else decimal; an empty
// number after the prefix is 0. Values past 2^32 are refused early (no overflow).
std::optional<uint64_t> parseIpv4Number(std::string_view part) {
  if (part.empty()) {
    return std::nullopt;
  }
  unsigned radix = 10;
  if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    radix = 16;
    part.remove_prefix(2);
  } else if (part.size() >= 2 && part[0] == '0') {
    radix = 8;
    part.remove_prefix(1);
  }
  uint64_t value = 0;
  for (char c : part) {
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    if (digit >= radix) {
      return std::nullopt;
    }
    value = value * radix + digit;
    if (value > 0xffffffffULL) {
      return std::nullopt; // too large for any position; stop before overflowing
    }
  }
  return value;
}

std::vector<std::string_view> splitDots(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    parts.push_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) {
      return parts;
    }
    start = dot + 1;
  }
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

} // namespace

// WHATWG "ends in a number checker": the last label (ignoring one trailing dot) is all
// digits or a valid IPv4 number, so the host must be parsed as IPv4 or refused. Runs on every
// request: no allocation.
bool endsInNumber(std::string_view host) {
  if (host.size() > 1 && host.back() == '.') {
    host.remove_suffix(1);
  }
  size_t dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (!last.empty() && last.find_first_not_of("0123456789") == std::string_view::npos) {
    return true;
  }
  return parseIpv4Number(last).has_value();
}

std::optional<IpAddress> parseLenientIpv4(std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return std::nullopt;
  }
  auto parts = splitDots(text);
  if (parts.back().empty() && parts.size() > 1) {
    parts.pop_back(); // one trailing dot is allowed ("127.0.0.1.")
  }
  if (parts.size() > 4) {
    return std::nullopt;
  }
  std::vector<uint64_t> numbers;
  for (std::string_view part : parts) {
    auto n = parseIpv4Number(part);
    if (!n) {
      return std::nullopt;
    }
    numbers.push_back(*n);
  }
  for (size_t i = 0; i + 1 < numbers.size(); ++i) {
    if (numbers[i] > 255) {
      return std::nullopt;
    }
  }
  // The last number fills the remaining bytes: 127.1 is 127.0.0.1, 2130706433 is 127.0.0.1.
  unsigned remainingBytes = static_cast<unsigned>(5 - numbers.size());
  if (remainingBytes < 4 && numbers.back() >= (uint64_t{1} << (8 * remainingBytes))) {
    return std::nullopt;
  }
  uint64_t value = numbers.back();
  for (size_t i = 0; i + 1 < numbers.size(); ++i) {
    value += numbers[i] << (8 * (3 - i));
  }
  return IpAddress::v4(static_cast<uint32_t>(value));
}

std::optional<NormalisedHost> normaliseHost(std::string_view host, std::string& error) {
  if (host.empty()) {
    error = "empty host";
    return std::nullopt;
  }
  bool bracketed = host.front() == '[';
  if (bracketed || host.find(':') != std::string_view::npos) {
    if (bracketed) {
      if (host.size() < 2 || host.back() != ']') {
        error = "unterminated IPv6 literal";
        return std::nullopt;
      }
      host = host.substr(1, host.size() - 2);
    }
    if (host.find('%') != std::string_view::npos) {
      error = "IPv6 zone index not allowed";
      return std::nullopt;
    }
    auto address = IpAddress::parse(host);
    if (!address || address->isV4()) {
      error = "invalid IPv6 literal";
      return std::nullopt;
    }
    return NormalisedHost{address->toString(), address};
  }
  if (host.size() > 254) {
    error = "host name longer than 253 characters";
    return std::nullopt;
  }
  std::string lower(host);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (endsInNumber(lower)) {
    auto address = parseLenientIpv4(lower);
    if (!address) {
      error = "invalid IPv4 address";
      return std::nullopt;
    }
    return NormalisedHost{address->toString(), address};
  }
  if (lower.back() == '.') {
    lower.pop_back();
  }
  if (lower.empty() || lower.size() > 253) {
    error = lower.empty() ? "empty host" : "host name longer than 253 characters";
    return std::nullopt;
  }
  size_t labelLength = 0;
  for (char c : lower) {
    if (c == '.') {
      if (labelLength == 0) {
        error = "empty label in host name";
        return std::nullopt;
      }
      labelLength = 0;
      continue;
    }
    if (!isNameChar(c)) {
      error = "character not allowed in a host name";
      return std::nullopt;
    }
    if (++labelLength > 63) {
      error = "host name label longer than 63 characters";
      return std::nullopt;
    }
  }
  if (labelLength == 0) {
    error = "empty label in host name";
    return std::nullopt;
  }
  return NormalisedHost{std::move(lower), std::nullopt};
}

} // namespace gatehouse::policy
