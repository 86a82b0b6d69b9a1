#include "gatehouse/config/secret.h"

#include <openssl/crypto.h>

namespace gatehouse::config {

void wipeString(std::string& s) noexcept {
  // Bytes past size() may still hold an earlier, longer value: wipe the whole capacity.
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    wipe();
    value_ = other.value_;
  }
  return *this;
}

Secret::Secret(Secret&& other) noexcept : value_(other.value_) {
  other.wipe();
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = other.value_;
    other.wipe();
  }
  return *this;
}

bool Secret::equals(std::string_view other) const {
  return other.size() == value_.size() &&
         CRYPTO_memcmp(other.data(), value_.data(), value_.size()) == 0;
}

void Secret::wipe() noexcept {
  wipeString(value_);
}

} // namespace gatehouse::config
