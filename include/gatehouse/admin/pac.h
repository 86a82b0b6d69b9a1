#pragma once
// /proxy.pac: a proxy auto-config file built from the configuration, for browsers and WPAD.

#include <string>

namespace gatehouse::config {
struct Config;
}

namespace gatehouse::admin {

inline constexpr const char* kPacContentType = "application/x-ns-proxy-autoconfig";

// FindProxyForURL: DIRECT for pac_direct_domains (and their subdomains) and for IPv4 literals
// inside pac_direct_cidrs (names are never resolved, so the PAC file costs clients no DNS),
// "PROXY <pac_proxy>" for the rest (no DIRECT fallback: that would bypass the proxy's
// policy). `fallbackProxy` is used when pac_proxy is unset (the first listener).
std::string renderPac(const config::Config& config, const std::string& fallbackProxy);

} // namespace gatehouse::admin
