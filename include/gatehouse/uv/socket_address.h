#pragma once
// An IPv4 or IPv6 socket address with value semantics.

#include <netinet/in.h>
#include <string>
#include <sys/socket.h>

namespace gatehouse::uv {

// sockaddr_storage with helpers; family AF_UNSPEC means "no address".
class SocketAddress {
public:
  SocketAddress() = default;
  explicit SocketAddress(const sockaddr* sa);

  // Parses a numeric IPv4 or IPv6 literal (no brackets) and a port; false if not numeric.
  static bool fromNumeric(const std::string& host, uint16_t port, SocketAddress& out);

  bool valid() const { return storage_.ss_family == AF_INET || storage_.ss_family == AF_INET6; }
  int family() const { return storage_.ss_family; }
  const sockaddr* raw() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const;
  uint16_t port() const;
  void setPort(uint16_t port);
  // "1.2.3.4:80" or "[::1]:80".
  std::string toString() const;
  // "1.2.3.4" or "::1".
  std::string hostString() const;

private:
  sockaddr_storage storage_{};
};

} // namespace gatehouse::uv
