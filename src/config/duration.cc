#include "gatehouse/config/duration.h"

namespace gatehouse::config {

namespace {

// Parses a decimal number prefix; `rest` gets what follows it.
std::optional<uint64_t> leadingNumber(std::string_view text, std::string_view& rest) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) {
      return std::nullopt;
    }
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) {
    return std::nullopt;
  }
  rest = text.substr(i);
  return n;
}

} // namespace

std::optional<uint64_t> parseDurationMs(std::string_view text) {
  std::string_view unit;
  auto n = leadingNumber(text, unit);
  if (!n) {
    return std::nullopt;
  }
  uint64_t scale;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return std::nullopt;
  }
  // A day caps every timeout; beyond it a typo is likelier than intent.
  if (*n > 86'400'000 / scale) {
    return std::nullopt;
  }
  return *n * scale;
}

std::string formatDuration(uint64_t ms) {
  if (ms != 0 && ms % 3'600'000 == 0) {
    return std::to_string(ms / 3'600'000) + "h";
  }
  if (ms != 0 && ms % 60'000 == 0) {
    return std::to_string(ms / 60'000) + "m";
  }
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

std::optional<uint64_t> parseSize(std::string_view text) {
  std::string_view unit;
  auto n = leadingNumber(text, unit);
  if (!n) {
    return std::nullopt;
  }
  uint64_t scale;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB" || unit == "k" || unit == "K") {
    scale = 1024;
  } else if (unit == "MiB" || unit == "M") {
    scale = 1024 * 1024;
  } else {
    return std::nullopt;
  }
  if (*n > (uint64_t(1) << 40) / scale) {
    return std::nullopt;
  }
  return *n * scale;
}

} // namespace gatehouse::config
