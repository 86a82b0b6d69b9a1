#pragma once
// The SSRF guard: what kind of address a destination is, and whether the proxy may connect
// to it. Run on every address DNS returned, right before connecting (classify the address
// actually dialled, never the name, so DNS rebinding cannot slip 127.0.0.1 past a name check),
// and on IP literals at head time.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gatehouse/policy/ip_address.h"

namespace gatehouse::policy {

// What an address is. Everything but Global is refused by an enabled guard.
enum class AddressCategory : uint8_t {
  Global,        // ordinary public unicast
  Loopback,      // 127.0.0.0/8, ::1
  Unspecified,   // 0.0.0.0/8 ("this network"; Linux connects 0.0.0.0 to itself), ::
  LinkLocal,     // 169.254.0.0/16 (cloud metadata 169.254.169.254), fe80::/10, fd00:ec2::254
  Private,       // RFC 1918: 10/8, 172.16/12, 192.168/16
  SharedCgnat,   // RFC 6598 carrier-grade NAT 100.64.0.0/10
  UniqueLocal,   // fc00::/7
  Multicast,     // 224.0.0.0/4, ff00::/8
  Broadcast,     // 255.255.255.255
  Documentation, // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  Reserved,      // 240/4, 192.0.0/24, 198.18/15, 192.88.99/24, 100::/64, fec0::/10, ...
  EmbeddedIpv4,  // Teredo, NAT64 local-use, IPv4-compatible ::a.b.c.d: tunnels we refuse
};

// How an IPv6 address carried an IPv4 one (then the category is the embedded address's).
enum class Embedding : uint8_t { None, Mapped, Nat64, SixToFour };

struct AddressClass {
  AddressCategory category = AddressCategory::Global;
  Embedding embedding = Embedding::None;
  // "loopback", or "loopback via nat64" when an embedded IPv4 address decided.
  std::string describe() const;
};

// Classifies an address. IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4
// (2002::/16) addresses are judged by the IPv4 address inside them, so ::ffff:127.0.0.1 is
// loopback and 2002:7f00:1:: is too; a global IPv4 inside stays Global.
AddressClass classifyAddress(const IpAddress& address);
std::string_view categoryName(AddressCategory category);

// One of the proxy's own listeners. An unspecified address (0.0.0.0, ::) stands for every
// local address; the caller adds the host's interface addresses with the same port to cover
// names that resolve to the machine's own public address.
struct ListenerAddress {
  IpAddress address;
  uint16_t port = 0;
};

// The guard's verdict for one destination address.
struct GuardVerdict {
  bool allowed = true;
  // For Proxy-Status details when refused: "loopback", "private", "own listener", ...
  std::string reason;
};

// Decides whether the proxy may connect to `address`:`port`.
//  - The proxy's own listeners are refused whatever else holds (a request to itself loops).
//  - With the guard off, everything else is allowed.
//  - With the guard on, non-global addresses are refused unless one of `allowedRanges` (the
//    `cidrs` of the allow rule that decided the request) contains the address.
GuardVerdict checkDestination(const IpAddress& address, uint16_t port, bool guardEnabled,
                              std::span<const ListenerAddress> ownListeners,
                              std::span<const Cidr> allowedRanges);

} // namespace gatehouse::policy
