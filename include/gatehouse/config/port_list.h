#pragma once
// Which ports CONNECT may reach: "443,8443,9000-9100" or "*".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::config {

class PortList {
public:
  // Parses the list; nullopt (with `error` set) for empty items, non-numbers, 0, >65535 or
  // reversed ranges.
  static std::optional<PortList> parse(std::string_view text, std::string& error);
  static PortList any() {
    PortList p;
    p.any_ = true;
    return p;
  }
  static PortList only(uint16_t port) {
    PortList p;
    p.ranges_.emplace_back(port, port);
    return p;
  }
  bool allows(uint16_t port) const;
  std::string toString() const;

private:
  bool any_ = false;
  std::vector<std::pair<uint16_t, uint16_t>> ranges_;
};

} // namespace gatehouse::config
