#include "gatehouse/policy/ip_address.h"

#include <arpa/inet.h>
#include <cstring>

namespace gatehouse::policy {

IpAddress IpAddress::v4(uint32_t hostOrder) {
  IpAddress a;
  a.family_ = Family::V4;
  a.bytes_[0] = static_cast<uint8_t>(hostOrder >> 24);
  a.bytes_[1] = static_cast<uint8_t>(hostOrder >> 16);
  a.bytes_[2] = static_cast<uint8_t>(hostOrder >> 8);
  a.bytes_[3] = static_cast<uint8_t>(hostOrder);
  return a;
}

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return v4((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
}

std::optional<IpAddress> IpAddress::fromBytes(const uint8_t* bytes, size_t size) {
  if (size != 4 && size != 16) {
    return std::nullopt;
  }
  IpAddress a;
  a.family_ = size == 4 ? Family::V4 : Family::V6;
  std::memcpy(a.bytes_.data(), bytes, size);
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton wants a NUL-terminated string; the longest valid form is 45 characters.
  if (text.empty() || text.size() > 45) {
    return std::nullopt;
  }
  char buffer[64];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = 0;
  uint8_t bytes[16];
  if (text.find(':') == std::string_view::npos) {
    // glibc's inet_pton(AF_INET) takes only four decimal parts without leading zeros.
    if (::inet_pton(AF_INET, buffer, bytes) == 1) {
      return fromBytes(bytes, 4);
    }
    return std::nullopt;
  }
  if (::inet_pton(AF_INET6, buffer, bytes) == 1) {
    return fromBytes(bytes, 16);
  }
  return std::nullopt;
}

uint32_t IpAddress::v4Value() const {
  if (!isV4()) {
    return 0;
  }
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         bytes_[3];
}

IpAddress IpAddress::unmapped() const {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (isV4() || std::memcmp(bytes_.data(), kMappedPrefix, 12) != 0) {
    return *this;
  }
  return v4(bytes_[12], bytes_[13], bytes_[14], bytes_[15]);
}

std::string IpAddress::toString() const {
  char buffer[INET6_ADDRSTRLEN];
  ::inet_ntop(isV4() ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof buffer);
  return buffer;
}

bool samePrefix(const IpAddress& a, const IpAddress& b, unsigned prefix) {
  if (a.family() != b.family() || prefix > a.size() * 8) {
    return false;
  }
  const auto& x = a.bytes();
  const auto& y = b.bytes();
  unsigned whole = prefix / 8;
  if (std::memcmp(x.data(), y.data(), whole) != 0) {
    return false;
  }
  unsigned rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (x[whole] & mask) == (y[whole] & mask);
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string& error) {
  size_t slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) {
    error = "invalid address in \"" + std::string(text) + "\" (numeric IPv4 or IPv6)";
    return std::nullopt;
  }
  unsigned bits = static_cast<unsigned>(address->size() * 8);
  unsigned prefix = bits;
  if (slash != std::string_view::npos) {
    std::string_view length = text.substr(slash + 1);
    if (length.empty() || length.size() > 3 ||
        length.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoul(std::string(length)) > bits) {
      error = "invalid prefix length in \"" + std::string(text) + "\" (0 to " +
              std::to_string(bits) + ")";
      return std::nullopt;
    }
    prefix = static_cast<unsigned>(std::stoul(std::string(length)));
  }
  // Host bits must be clear: compare with itself masked.
  std::array<uint8_t, 16> masked = address->bytes();
  for (unsigned i = 0; i < address->size(); ++i) {
    unsigned keep = prefix > i * 8 ? std::min(8u, prefix - i * 8) : 0;
    masked[i] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  auto network = IpAddress::fromBytes(masked.data(), address->size());
  if (!(*network == *address)) {
    error = "\"" + std::string(text) + "\" has host bits set (did you mean " + network->toString() +
            "/" + std::to_string(prefix) + "?)";
    return std::nullopt;
  }
  return Cidr{*network, static_cast<uint8_t>(prefix)};
}

bool Cidr::contains(const IpAddress& address) const {
  IpAddress candidate = network.isV4() ? address.unmapped() : address;
  return samePrefix(network, candidate, prefix);
}

std::string Cidr::toString() const {
  return network.toString() + "/" + std::to_string(prefix);
}

} // namespace gatehouse::policy
