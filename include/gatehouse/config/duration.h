#pragma once
// Durations as users write them: "500ms", "2s", "5m", "1h".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::config {

// Milliseconds, or nullopt when the text is not a number followed by ms, s, m or h.
std::optional<uint64_t> parseDurationMs(std::string_view text);
// The shortest exact spelling ("1500ms", "2s", "5m").
std::string formatDuration(uint64_t ms);

// Byte sizes: "65536", "64KiB", "1MiB".
std::optional<uint64_t> parseSize(std::string_view text);

} // namespace gatehouse::config
