#pragma once
// A set of domain patterns that answers "does this host match" with a few hash lookups, one
// per label of the host, whatever the number of patterns: block lists of 100,000 entries
// cost the same per request as a list of ten.
//
// Patterns (case-insensitive, one trailing dot ignored):
//   example.com     exactly that host
//   *.example.com   any host below example.com, not example.com itself
//   .example.com    example.com and any host below it (Squid's dstdomain spelling)

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::policy {

// Patterns of the three forms above; copyable, immutable once loaded, safe to read from
// several threads.
class DomainSet {
public:
  // Adds one pattern; false with `error` for anything but the three forms above over plain
  // DNS labels ("*" alone, "a.*.b", empty labels, spaces...). IPv4 patterns are stored in
  // dotted-quad form, as requests name them after normaliseHost.
  bool add(std::string_view pattern, std::string& error);
  // Whether `host` (already normalised: lower case, no trailing dot) matches a pattern.
  bool matches(std::string_view host) const;
  // The pattern that matched, in canonical form, for explanations ("" if none).
  std::string matchingPattern(std::string_view host) const;

  size_t size() const { return patterns_; }
  bool empty() const { return patterns_ == 0; }
  // Bytes held (arena plus index), for the load report.
  size_t memoryBytes() const { return arena_.capacity() + slots_.capacity() * sizeof(Slot); }

  // Reads a hosts file: one pattern per line; '#' starts a comment (whole line or trailing);
  // blank lines ignored. Appends "file:line: reason" for each bad line to `errors` (at most
  // `maxErrors`, then a count) and keeps going, so one report names every problem.
  // Returns false if the file cannot be read (reason in `errors`).
  bool loadFile(const std::string& path, std::vector<std::string>& errors, size_t maxErrors = 10);
  // Same for text already in memory; `name` stands in for the file name (tests, fuzzing).
  void loadText(std::string_view text, const std::string& name, std::vector<std::string>& errors,
                size_t maxErrors = 10);

private:
  // What a stored name stands for; a name may be both exact and a suffix.
  enum Kind : uint8_t { kExact = 1, kBelow = 2 };
  // One entry of the open-addressing index: where the name sits in the arena, and 16 bits of
  // its hash so most mismatches are rejected without touching the arena. 8 bytes, no
  // pointers: 100,000 names take about 2 MiB of index plus the names themselves.
  struct Slot {
    uint32_t offset = 0;
    uint8_t length = 0; // 0: empty slot (names are never empty)
    uint8_t kind = 0;
    uint16_t tag = 0;
  };

  // The slot holding `name`, or the empty slot where it would go.
  size_t probe(std::string_view name, uint64_t hash) const;
  // The kind bits stored for `name` (0 if absent).
  uint8_t kindOf(std::string_view name) const;
  // Doubles the index (or more, to at least `atLeast` slots) and re-inserts every name.
  void grow(size_t atLeast = 0);

  std::string arena_;       // every name, back to back
  std::vector<Slot> slots_; // power-of-two size, at most half full
  size_t used_ = 0;         // distinct names
  size_t patterns_ = 0;     // patterns added (a name may carry two)
  // Lengths of the stored names: a lookup for a length nobody has is skipped without hashing
  // (most of them, for short lists).
  std::bitset<256> lengths_;
};

} // namespace gatehouse::policy
