#pragma once
// The one canonical spelling of a destination host, computed before any rule looks at it.
// Browsers and curl read "http://0x7f.1/", "http://2130706433/" and "http://0177.0.0.1/" as
// 127.0.0.1 (WHATWG URL host parsing, which follows inet_aton), so a rule or guard comparing
// text would be bypassed; here they all become "127.0.0.1", and names that end in a number
// but are not a valid IPv4 address ("1.2.3.256", "x.0x") are refused as browsers refuse them.

#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/policy/ip_address.h"

namespace gatehouse::policy {

// A destination host after normalisation.
struct NormalisedHost {
  // Dotted quad, RFC 5952 IPv6 without brackets, or a lower-case name without trailing dot.
  std::string text;
  std::optional<IpAddress> address; // set for IP literals
  bool isAddress() const { return address.has_value(); }
};

// Normalises a host as found in a request target or CONNECT authority ("[::1]" or "::1",
// "0x7f.1", "Example.COM."). nullopt with `error` set for hosts a browser would refuse or
// that are not plain DNS names (empty labels, non-ASCII, a zone index, over 253 characters).
std::optional<NormalisedHost> normaliseHost(std::string_view host, std::string& error);

// WHATWG "ends in a number": the last label (one trailing dot ignored) is all digits or an
// IPv4 number (0x..., 0...), so the host is an IPv4 address or invalid, never a name.
bool endsInNumber(std::string_view host);

// WHATWG "IPv4 parser" alone: nullopt if `text` is not an IPv4 address in any accepted form.
std::optional<IpAddress> parseLenientIpv4(std::string_view text);

} // namespace gatehouse::policy
