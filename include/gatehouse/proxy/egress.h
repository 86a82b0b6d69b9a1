#pragma once
// Where the egress policy meets the proxy's sockets: addresses converted at the edge, the
// policy compiled with the addresses the proxy really listens on, parent routes from config.

#include <memory>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/policy/ip_address.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/uv/socket_address.h"

namespace gatehouse::policy {
class EgressPolicy;
}

namespace gatehouse::proxy {

policy::IpAddress toIpAddress(const uv::SocketAddress& address);
// Throws config::ConfigError (with file and line) like a start would.
std::shared_ptr<const policy::EgressPolicy>
compileEgress(const config::Config& config, const std::vector<uv::SocketAddress>& bound);
// One route per [[parent]], with its Proxy-Authorization built once.
std::vector<ParentRoute> parentRoutes(const config::Config& config);

} // namespace gatehouse::proxy
