// Feeds arbitrary bytes as an htgroup file ("group: user1 user2") and an htpasswd file: the
// parsers must skip what they cannot use, never crash, and name no member with whitespace.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gatehouse/auth/user_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::auth;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  GroupTable groups = parseGroupFile(text, "fuzz", warnings);
  for (const auto& [group, members] : groups) {
    if (group.empty() || group.find_first_of(" \t\n") != std::string::npos) {
      __builtin_trap();
    }
    for (const std::string& member : members) {
      if (member.empty() || member.find_first_of(" \t\n") != std::string::npos) {
        __builtin_trap();
      }
    }
  }
  parseUserFile(text, "fuzz", false, warnings);
  return 0;
}
