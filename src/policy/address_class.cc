#include "gatehouse/policy/address_class.h"

#include <array>

namespace gatehouse::policy {

namespace {

// One special-purpose range and what it is. Tables are searched in order, so a more specific
// range comes before the range containing it (255.255.255.255 before 240/4).
struct Range {
  IpAddress network;
  uint8_t prefix;
  AddressCategory category;
};

IpAddress v6(std::initializer_list<uint16_t> groups) {
  std::array<uint8_t, 16> bytes{};
  size_t i = 0;
  for (uint16_t g : groups) {
    bytes[i++] = static_cast<uint8_t>(g >> 8);
    bytes[i++] = static_cast<uint8_t>(g);
  }
  return *IpAddress::fromBytes(bytes.data(), 16);
}

// IANA IPv4 special-purpose registry, as far as it matters to where a proxy may connect.
const std::array<Range, 16>& ipv4Ranges() {
  using C = AddressCategory;
  static const std::array<Range, 16> ranges = {{
      {IpAddress::v4(0, 0, 0, 0), 8, C::Unspecified},
      {IpAddress::v4(10, 0, 0, 0), 8, C::Private},
      {IpAddress::v4(100, 64, 0, 0), 10, C::SharedCgnat},
      {IpAddress::v4(127, 0, 0, 0), 8, C::Loopback},
      {IpAddress::v4(169, 254, 0, 0), 16, C::LinkLocal},
      {IpAddress::v4(172, 16, 0, 0), 12, C::Private},
      {IpAddress::v4(192, 0, 0, 0), 24, C::Reserved}, // IETF protocol assignments
      {IpAddress::v4(192, 0, 2, 0), 24, C::Documentation},
      {IpAddress::v4(192, 88, 99, 0), 24, C::Reserved}, // 6to4 relay anycast (deprecated)
      {IpAddress::v4(192, 168, 0, 0), 16, C::Private},
      {IpAddress::v4(198, 18, 0, 0), 15, C::Reserved}, // benchmarking
      {IpAddress::v4(198, 51, 100, 0), 24, C::Documentation},
      {IpAddress::v4(203, 0, 113, 0), 24, C::Documentation},
      {IpAddress::v4(224, 0, 0, 0), 4, C::Multicast},
      {IpAddress::v4(255, 255, 255, 255), 32, C::Broadcast},
      {IpAddress::v4(240, 0, 0, 0), 4, C::Reserved},
  }};
  return ranges;
}

// IPv6 ranges that are not judged by an embedded IPv4 address.
const std::array<Range, 15>& ipv6Ranges() {
  using C = AddressCategory;
  static const std::array<Range, 15> ranges = {{
      {v6({}), 128, C::Unspecified},
      {v6({0, 0, 0, 0, 0, 0, 0, 1}), 128, C::Loopback},
      {v6({}), 96, C::EmbeddedIpv4},                // IPv4-compatible ::a.b.c.d (deprecated)
      {v6({0x64, 0xff9b, 1}), 48, C::EmbeddedIpv4}, // NAT64 local use (RFC 8215)
      {v6({0x100}), 64, C::Reserved},               // discard-only
      {v6({0x2001}), 32, C::EmbeddedIpv4},          // Teredo: tunnels through IPv4
      {v6({0x2001, 2}), 48, C::Reserved},           // benchmarking
      {v6({0x2001, 0x10}), 28, C::Reserved},        // ORCHID (deprecated)
      {v6({0x2001, 0x20}), 28, C::Reserved},        // ORCHIDv2
      {v6({0x2001, 0xdb8}), 32, C::Documentation},
      {v6({0x3fff}), 20, C::Documentation},
      {v6({0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254}), 128, C::LinkLocal}, // AWS metadata (IPv6)
      {v6({0xfc00}), 7, C::UniqueLocal},
      {v6({0xfe80}), 10, C::LinkLocal},
      {v6({0xff00}), 8, C::Multicast},
  }};
  return ranges;
}

AddressCategory classifyV4(const IpAddress& address) {
  for (const Range& r : ipv4Ranges()) {
    if (samePrefix(address, r.network, r.prefix)) {
      return r.category;
    }
  }
  return AddressCategory::Global;
}

std::string_view embeddingName(Embedding e) {
  switch (e) {
  case Embedding::Mapped:
    return "ipv4-mapped";
  case Embedding::Nat64:
    return "nat64";
  case Embedding::SixToFour:
    return "6to4";
  case Embedding::None:
    break;
  }
  return "";
}

bool isLocalForLoop(AddressCategory c) {
  return c == AddressCategory::Loopback || c == AddressCategory::Unspecified;
}

} // namespace

std::string_view categoryName(AddressCategory category) {
  switch (category) {
  case AddressCategory::Global:
    return "global";
  case AddressCategory::Loopback:
    return "loopback";
  case AddressCategory::Unspecified:
    return "unspecified";
  case AddressCategory::LinkLocal:
    return "link_local";
  case AddressCategory::Private:
    return "private";
  case AddressCategory::SharedCgnat:
    return "cgnat";
  case AddressCategory::UniqueLocal:
    return "unique_local";
  case AddressCategory::Multicast:
    return "multicast";
  case AddressCategory::Broadcast:
    return "broadcast";
  case AddressCategory::Documentation:
    return "documentation";
  case AddressCategory::Reserved:
    return "reserved";
  case AddressCategory::EmbeddedIpv4:
    return "ipv6_embedded_ipv4";
  }
  return "unknown";
}

std::string AddressClass::describe() const {
  std::string out(categoryName(category));
  if (embedding != Embedding::None) {
    out += " via ";
    out += embeddingName(embedding);
  }
  return out;
}

AddressClass classifyAddress(const IpAddress& address) {
  if (address.isV4()) {
    return {classifyV4(address), Embedding::None};
  }
  const auto& b = address.bytes();
  // Forms that carry an IPv4 address are judged by it: connecting to them reaches it.
  static const IpAddress kMapped = v6({0, 0, 0, 0, 0, 0xffff});
  static const IpAddress kNat64 = v6({0x64, 0xff9b});
  static const IpAddress kSixToFour = v6({0x2002});
  if (samePrefix(address, kMapped, 96)) {
    return {classifyV4(IpAddress::v4(b[12], b[13], b[14], b[15])), Embedding::Mapped};
  }
  if (samePrefix(address, kNat64, 96)) {
    return {classifyV4(IpAddress::v4(b[12], b[13], b[14], b[15])), Embedding::Nat64};
  }
  if (samePrefix(address, kSixToFour, 16)) {
    return {classifyV4(IpAddress::v4(b[2], b[3], b[4], b[5])), Embedding::SixToFour};
  }
  for (const Range& r : ipv6Ranges()) {
    if (samePrefix(address, r.network, r.prefix)) {
      return {r.category, Embedding::None};
    }
  }
  // Global unicast is 2000::/3; the rest of the space is unassigned.
  if ((b[0] & 0xe0) != 0x20) {
    return {AddressCategory::Reserved, Embedding::None};
  }
  return {AddressCategory::Global, Embedding::None};
}

GuardVerdict checkDestination(const IpAddress& address, uint16_t port, bool guardEnabled,
                              std::span<const ListenerAddress> ownListeners,
                              std::span<const Cidr> allowedRanges) {
  AddressClass cls = classifyAddress(address);
  IpAddress plain = address.unmapped();
  for (const ListenerAddress& listener : ownListeners) {
    if (listener.port != port) {
      continue;
    }
    AddressCategory listenerCategory = classifyAddress(listener.address).category;
    bool sameAddress = listener.address.unmapped() == plain;
    // A wildcard listener answers on every local address, and connecting to 0.0.0.0 or ::
    // reaches a loopback listener.
    bool wildcard =
        listenerCategory == AddressCategory::Unspecified && isLocalForLoop(cls.category);
    bool unspecifiedToLoopback =
        cls.category == AddressCategory::Unspecified && isLocalForLoop(listenerCategory);
    if (sameAddress || wildcard || unspecifiedToLoopback) {
      return {false, "own listener"};
    }
  }
  if (!guardEnabled || cls.category == AddressCategory::Global) {
    return {true, cls.describe()};
  }
  for (const Cidr& range : allowedRanges) {
    if (range.contains(address)) {
      return {true, cls.describe() + " allowed by cidrs " + range.toString()};
    }
  }
  return {false, cls.describe()};
}

} // namespace gatehouse::policy
