#include "gatehouse/admin/pac.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "gatehouse/config/config.h"

namespace gatehouse::admin {

namespace {
// "10.1.0.0/16" -> {"10.1.0.0", "255.255.0.0"} (the values are validated at config load).
std::pair<std::string, std::string> networkAndMask(const std::string& cidr) {
  size_t slash = cidr.find('/');
  unsigned bits = static_cast<unsigned>(std::stoul(cidr.substr(slash + 1)));
  uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
  in_addr address{};
  ::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &address);
  uint32_t network = ntohl(address.s_addr) & mask;
  auto dotted = [](uint32_t v) {
    return fmt::format("{}.{}.{}.{}", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
  };
  return {dotted(network), dotted(mask)};
}
} // namespace

std::string renderPac(const config::Config& config, const std::string& fallbackProxy) {
  const std::string proxy = config.pacProxy.empty() ? fallbackProxy : config.pacProxy;
  std::string out = "// Proxy auto-config for Gatehouse (generated from its configuration).\n"
                    "function FindProxyForURL(url, host) {\n"
                    "  host = host.toLowerCase();\n";
  for (const std::string& domain : config.pacDirectDomains) {
    // Validated at load: letters, digits, dots and dashes only, so no quoting is needed.
    fmt::format_to(std::back_inserter(out),
                   "  if (host == \"{0}\" || dnsDomainIs(host, \".{0}\")) {{\n"
                   "    return \"DIRECT\";\n  }}\n",
                   fmt::to_string(domain));
  }
  if (!config.pacDirectCidrs.empty()) {
    // isInNet would resolve names; only IPv4 literals are matched, so no DNS is ever done.
    out += "  if (/^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$/.test(host)) {\n";
    for (const std::string& cidr : config.pacDirectCidrs) {
      auto [network, mask] = networkAndMask(cidr);
      fmt::format_to(
          std::back_inserter(out),
          "    if (isInNet(host, \"{}\", \"{}\")) {{\n      return \"DIRECT\";\n    }}\n", network,
          mask);
    }
    out += "  }\n";
  }
  fmt::format_to(std::back_inserter(out), "  return \"PROXY {}\";\n}}\n", proxy);
  return out;
}

} // namespace gatehouse::admin
