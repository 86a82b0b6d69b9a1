#pragma once
// A credential held in memory: never printed (no stream or fmt support on purpose), wiped with
// OPENSSL_cleanse when it goes away or is replaced, compared in constant time.

#include <string>
#include <string_view>

namespace gatehouse::config {

class Secret {
public:
  Secret() = default;
  explicit Secret(std::string_view value) : value_(value) {}
  Secret(const Secret& other) : value_(other.value_) {}
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { wipe(); }

  // The value, for the one place that must send it (building a Proxy-Authorization).
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  // Constant-time comparison.
  bool equals(std::string_view other) const;
  void wipe() noexcept;

private:
  std::string value_;
};

// Overwrites a string's whole buffer (up to its capacity) and empties it.
void wipeString(std::string& s) noexcept;

} // namespace gatehouse::config
