#include "gatehouse/uv/socket_address.h"

#include <arpa/inet.h>
#include <cstring>

namespace gatehouse::uv {

SocketAddress::SocketAddress(const sockaddr* sa) {
  if (sa == nullptr) {
    return;
  }
  if (sa->sa_family == AF_INET) {
    std::memcpy(&storage_, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(&storage_, sa, sizeof(sockaddr_in6));
  }
}

bool SocketAddress::fromNumeric(const std::string& host, uint16_t port, SocketAddress& out) {
  out = SocketAddress();
  sockaddr_in v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(&out.storage_, &v4, sizeof v4);
    return true;
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    std::memcpy(&out.storage_, &v6, sizeof v6);
    return true;
  }
  return false;
}

socklen_t SocketAddress::length() const {
  return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

void SocketAddress::setPort(uint16_t port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  }
}

std::string SocketAddress::hostString() const {
  char text[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
              sizeof text);
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof text);
  } else {
    return "-";
  }
  return text;
}

std::string SocketAddress::toString() const {
  if (!valid()) {
    return "-";
  }
  std::string host = hostString();
  if (family() == AF_INET6) {
    host = "[" + host + "]";
  }
  return host + ":" + std::to_string(port());
}

} // namespace gatehouse::uv
