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
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gatehouse::policy {

class DomainSet {
public:
  DomainSet() = default;
  DomainSet(DomainSet&&) noexcept = default;
  DomainSet& operator=(DomainSet&&) noexcept = default;
  DomainSet(const DomainSet&) = delete; // the index points into the arena
  DomainSet& operator=(const DomainSet&) = delete;

  // Adds one pattern; false with `error` for anything but the three forms above over plain
  // DNS labels ("*" alone, "a.*.b", empty labels, spaces...).
  bool add(std::string_view pattern, std::string& error);
  // Whether `host` (already normalised: lower case, no trailing dot) matches a pattern.
  bool matches(std::string_view host) const;
  // The pattern that matched, as written in canonical form, for explanations ("" if none).
  std::string matchingPattern(std::string_view host) const;

  size_t size() const { return patterns_; }
  bool empty() const { return patterns_ == 0; }
  // Bytes held (arena plus index), for the load report.
  size_t memoryBytes() const;

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
  // Names live in arena blocks that never move (a deque of fixed blocks), so the index can
  // key on string_view without a std::string per entry.
  std::string_view store(std::string_view name);

  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t blockUsed_ = 0;
  size_t blockSize_ = 0;
  size_t arenaBytes_ = 0;
  std::unordered_map<std::string_view, uint8_t> index_;
  // Lengths of the stored names: a lookup for a length nobody has is skipped without hashing
  // (most of them, for short lists).
  std::bitset<256> lengths_;
  size_t patterns_ = 0;
};

} // namespace gatehouse::policy
