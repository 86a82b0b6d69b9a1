// Feeds arbitrary bytes to the hosts file parser (comments, blank lines, *., leading dots,
// trailing dots, bad lines with file:line errors), then looks up every line of the input and
// a few suffixes of it: what was accepted must match, and nothing may crash.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gatehouse/policy/domain_set.h"
#include "gatehouse/policy/host_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::policy;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  DomainSet set;
  std::vector<std::string> errors;
  set.loadText(input, "fuzz.txt", errors, 4);
  if (errors.size() > 5) {
    std::abort(); // the cap holds: 4 lines plus the count
  }
  size_t start = 0;
  while (start <= input.size()) {
    size_t nl = input.find('\n', start);
    std::string_view line = input.substr(start, nl == std::string_view::npos ? nl : nl - start);
    std::string error;
    // An exact pattern that was accepted alone must match itself once normalised.
    DomainSet single;
    bool plain = line.find_first_of("*# \t\r") == std::string_view::npos && !line.starts_with(".");
    if (plain && single.add(line, error)) {
      if (auto host = normaliseHost(line, error); host && !host->address) {
        if (!single.matches(host->text)) {
          std::abort();
        }
      }
    }
    set.matches(line);
    set.matchingPattern(line);
    if (nl == std::string_view::npos) {
      break;
    }
    start = nl + 1;
  }
  return 0;
}
