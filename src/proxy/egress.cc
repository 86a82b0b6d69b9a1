#include "gatehouse/proxy/egress.h"

#include <netinet/in.h>
#include <openssl/crypto.h>

#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/policy/rules.h"

namespace gatehouse::proxy {

policy::IpAddress toIpAddress(const uv::SocketAddress& address) {
  if (address.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address.raw());
    return policy::IpAddress::fromBytes(reinterpret_cast<const uint8_t*>(&in->sin_addr), 4)
        .value_or(policy::IpAddress());
  }
  if (address.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.raw());
    return policy::IpAddress::fromBytes(reinterpret_cast<const uint8_t*>(&in6->sin6_addr), 16)
        .value_or(policy::IpAddress());
  }
  return {};
}

std::shared_ptr<const policy::EgressPolicy>
compileEgress(const config::Config& config, const std::vector<uv::SocketAddress>& bound) {
  std::vector<policy::ListenerAddress> listeners;
  for (const uv::SocketAddress& address : bound) {
    listeners.push_back({toIpAddress(address), address.port()});
  }
  return policy::EgressPolicy::compile(config, std::move(listeners));
}

std::vector<ParentRoute> parentRoutes(const config::Config& config) {
  std::vector<ParentRoute> routes;
  routes.reserve(config.parents.size());
  for (const config::ParentSpec& spec : config.parents) {
    ParentRoute& route = routes.emplace_back();
    route.name = spec.name;
    route.address.host = spec.host;
    route.address.port = spec.port;
    route.address.ipv6 = spec.host.find(':') != std::string::npos;
    if (spec.hasCredentials()) {
      std::string pair = spec.user.reveal() + ":" + spec.password.reveal();
      route.authorization = "Basic " + auth::encodeBase64(pair);
      OPENSSL_cleanse(pair.data(), pair.size());
    }
  }
  return routes;
}

} // namespace gatehouse::proxy
