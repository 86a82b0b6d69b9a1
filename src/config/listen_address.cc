// Listen addresses: "HOST:PORT" or "[V6]:PORT" with a numeric host, optionally followed by
// listener options ("127.0.0.1:3129 proxy_protocol"), and the Config's parsed listeners.

#include "gatehouse/config/config.h"

namespace gatehouse::config {

std::optional<uv::SocketAddress> parseListenAddress(const std::string& text, std::string& error) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) {
      error = "invalid listen address \"" + text + "\" (expected [V6]:PORT)";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "invalid listen address \"" + text + "\" (expected HOST:PORT)";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    error = "invalid port in listen address \"" + text + "\"";
    return std::nullopt;
  }
  uv::SocketAddress address;
  if (!uv::SocketAddress::fromNumeric(host, static_cast<uint16_t>(std::stoul(port)), address)) {
    error = "listen address \"" + text + "\" needs a numeric IPv4 or IPv6 host";
    return std::nullopt;
  }
  return address;
}

std::optional<ListenerSpec> parseListener(const std::string& text, std::string& error) {
  // "ADDRESS" or "ADDRESS option...": options are words after spaces.
  size_t space = text.find(' ');
  auto address = parseListenAddress(text.substr(0, space), error);
  if (!address) {
    return std::nullopt;
  }
  ListenerSpec spec{*address, false};
  while (space != std::string::npos) {
    size_t start = text.find_first_not_of(' ', space);
    if (start == std::string::npos) {
      break;
    }
    space = text.find(' ', start);
    std::string option = text.substr(start, space == std::string::npos ? space : space - start);
    if (option == "proxy_protocol") {
      spec.proxyProtocol = true;
    } else {
      error =
          "unknown listener option \"" + option + "\" in \"" + text + "\" (known: proxy_protocol)";
      return std::nullopt;
    }
  }
  return spec;
}

std::vector<ListenerSpec> Config::listeners(bool tls) const {
  std::vector<ListenerSpec> out;
  for (const std::string& l : tls ? tlsListen : listen) {
    std::string error;
    if (auto spec = parseListener(l, error)) {
      out.push_back(*spec);
    }
  }
  return out;
}

std::vector<uv::SocketAddress> Config::listenAddresses() const {
  std::vector<uv::SocketAddress> out;
  for (const ListenerSpec& spec : listeners(false)) {
    out.push_back(spec.address);
  }
  return out;
}

std::vector<uv::SocketAddress> Config::tlsListenAddresses() const {
  std::vector<uv::SocketAddress> out;
  for (const ListenerSpec& spec : listeners(true)) {
    out.push_back(spec.address);
  }
  return out;
}

} // namespace gatehouse::config
