#pragma once
// IP addresses and CIDR ranges as plain values for policy decisions. The policy layer sits
// above sockets, so this is its own 16-byte value type, not libuv's or the kernel's sockaddr:
// the caller converts at the edge (fromBytes on what getaddrinfo or accept returned).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::policy {

// An IPv4 or IPv6 address. IPv4 is kept as its four bytes (not as ::ffff:a.b.c.d), so a
// mapped IPv6 address and the IPv4 address it names compare different; unmapped() bridges.
class IpAddress {
public:
  enum class Family : uint8_t { V4, V6 };

  IpAddress() = default; // 0.0.0.0
  static IpAddress v4(uint32_t hostOrder);
  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  // `bytes` holds 4 (IPv4) or 16 (IPv6) bytes in network order; nullopt for other sizes.
  static std::optional<IpAddress> fromBytes(const uint8_t* bytes, size_t size);
  // Strict numeric parse: dotted quad (four decimal parts, no leading zeros) or RFC 4291
  // IPv6 text without brackets or zone. Odd IPv4 forms are normaliseHost's job.
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool isV4() const { return family_ == Family::V4; }
  // Network-order bytes: 4 significant for IPv4, 16 for IPv6.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  size_t size() const { return isV4() ? 4 : 16; }
  // IPv4 as a host-order integer (0 for IPv6).
  uint32_t v4Value() const;
  // ::ffff:a.b.c.d as a.b.c.d; anything else unchanged.
  IpAddress unmapped() const;
  // "1.2.3.4" or RFC 5952 "2001:db8::1".
  std::string toString() const;

  bool operator==(const IpAddress& other) const = default;

private:
  Family family_ = Family::V4;
  std::array<uint8_t, 16> bytes_{};
};

// A CIDR range such as 10.0.0.0/8 or fc00::/7. A bare address is a /32 or /128.
struct Cidr {
  IpAddress network; // host bits cleared
  uint8_t prefix = 0;

  // Parses "ADDR/LEN" or "ADDR"; nullopt and `error` for bad addresses, lengths, or a range
  // whose host bits are set (10.0.0.1/8 is almost always a typo).
  static std::optional<Cidr> parse(std::string_view text, std::string& error);
  // Whether `address` (mapped IPv4 unmapped first) lies in the range; families must agree.
  bool contains(const IpAddress& address) const;
  // True for 0.0.0.0/0 and ::/0.
  bool matchesEverything() const { return prefix == 0; }
  std::string toString() const;
};

// Whether the first `prefix` bits of two equal-family addresses agree.
bool samePrefix(const IpAddress& a, const IpAddress& b, unsigned prefix);

} // namespace gatehouse::policy
