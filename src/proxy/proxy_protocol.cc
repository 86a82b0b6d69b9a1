#include "gatehouse/proxy/proxy_protocol.h"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace gatehouse::proxy {

namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                   '\n', 'Q',  'U',  'I',  'T',  '\n'};
constexpr std::string_view kV1Prefix = "PROXY ";

ProxyParse invalid(std::string error) {
  ProxyParse result;
  result.status = ProxyParse::Status::Invalid;
  result.error = std::move(error);
  return result;
}

ProxyParse needMore(size_t atLeast) {
  ProxyParse result;
  result.needAtLeast = atLeast;
  return result;
}

// A decimal port, 0..65535, no sign and no leading zero (HAProxy's spec).
std::optional<uint16_t> parsePort(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::optional<uv::SocketAddress> parseV1Address(std::string_view host, std::string_view port,
                                                int family) {
  auto portValue = parsePort(port);
  if (!portValue || host.empty() || host.size() > 45) {
    return std::nullopt;
  }
  std::string hostText(host);
  unsigned char scratch[sizeof(in6_addr)];
  if (inet_pton(family, hostText.c_str(), scratch) != 1) {
    return std::nullopt; // also refuses a v6 address after TCP4 and the reverse
  }
  uv::SocketAddress address;
  if (!uv::SocketAddress::fromNumeric(hostText, *portValue, address)) {
    return std::nullopt;
  }
  return address;
}

ProxyParse parseV1(std::string_view data) {
  size_t end = data.find("\r\n");
  if (end == std::string_view::npos) {
    if (data.size() >= kProxyV1MaxLength) {
      return invalid("PROXY v1 line longer than 107 bytes");
    }
    // A bare LF or other control byte can never become valid.
    for (char c : data) {
      if ((c < 0x20 && c != '\r') || c == 0x7f) {
        return invalid("PROXY v1 line with a control byte");
      }
    }
    return needMore(data.size() + 1);
  }
  if (end + 2 > kProxyV1MaxLength) {
    return invalid("PROXY v1 line longer than 107 bytes");
  }
  std::string_view line = data.substr(kV1Prefix.size(), end - kV1Prefix.size());
  for (char c : line) {
    if (c < 0x20 || c == 0x7f) {
      return invalid("PROXY v1 line with a control byte");
    }
  }
  ProxyParse result;
  result.status = ProxyParse::Status::Done;
  result.header.version = 1;
  result.header.length = end + 2;
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
    return result; // whatever follows UNKNOWN is ignored, by the spec
  }
  // Fields are separated by exactly one space.
  std::string_view fields[6];
  size_t count = 0;
  size_t start = 0;
  while (count < 6) {
    size_t space = line.find(' ', start);
    fields[count++] = line.substr(start, space == std::string_view::npos ? space : space - start);
    if (space == std::string_view::npos) {
      break;
    }
    start = space + 1;
    if (count == 6) {
      return invalid("PROXY v1 line with extra fields");
    }
  }
  int family = fields[0] == "TCP4" ? AF_INET : fields[0] == "TCP6" ? AF_INET6 : 0;
  if (family == 0) {
    return invalid("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (count != 5) {
    return invalid("PROXY v1 line needs source, destination and both ports");
  }
  result.header.source = parseV1Address(fields[1], fields[3], family);
  result.header.destination = parseV1Address(fields[2], fields[4], family);
  if (!result.header.source || !result.header.destination) {
    return invalid("PROXY v1 line with an invalid address or port");
  }
  return result;
}

uv::SocketAddress v4Address(const unsigned char* addr, const unsigned char* port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  std::memcpy(&sin.sin_addr, addr, 4);
  std::memcpy(&sin.sin_port, port, 2); // both in network order already
  return uv::SocketAddress(reinterpret_cast<const sockaddr*>(&sin));
}

uv::SocketAddress v6Address(const unsigned char* addr, const unsigned char* port) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  std::memcpy(&sin6.sin6_addr, addr, 16);
  std::memcpy(&sin6.sin6_port, port, 2);
  return uv::SocketAddress(reinterpret_cast<const sockaddr*>(&sin6));
}

ProxyParse parseV2(std::string_view data) {
  if (data.size() < 16) {
    return needMore(16);
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned version = bytes[12] >> 4;
  const unsigned command = bytes[12] & 0x0f;
  if (version != 2) {
    return invalid("PROXY v2 header with version " + std::to_string(version));
  }
  if (command > 1) {
    return invalid("PROXY v2 header with an unknown command");
  }
  const size_t payload = (static_cast<size_t>(bytes[14]) << 8) | bytes[15];
  if (16 + payload > kProxyV2MaxLength) {
    return invalid("PROXY v2 header longer than " + std::to_string(kProxyV2MaxLength) + " bytes");
  }
  if (data.size() < 16 + payload) {
    return needMore(16 + payload);
  }
  ProxyParse result;
  result.status = ProxyParse::Status::Done;
  result.header.version = 2;
  result.header.length = 16 + payload;
  const unsigned char* body = bytes + 16;
  if (command == 0) {
    result.header.local = true; // LOCAL: the balancer itself; the address block is ignored
    return result;
  }
  const unsigned family = bytes[13] >> 4;
  const unsigned transport = bytes[13] & 0x0f;
  if (family > 3 || transport > 2) {
    return invalid("PROXY v2 header with an unknown address family or transport");
  }
  size_t addressLength = 0;
  if (family == 1) {
    addressLength = 12;
  } else if (family == 2) {
    addressLength = 36;
  } else if (family == 3) {
    addressLength = 216;
  }
  if (payload < addressLength) {
    return invalid("PROXY v2 header shorter than its address block");
  }
  if (transport == 1 && family == 1) {
    result.header.source = v4Address(body, body + 8);
    result.header.destination = v4Address(body + 4, body + 10);
  } else if (transport == 1 && family == 2) {
    result.header.source = v6Address(body, body + 32);
    result.header.destination = v6Address(body + 16, body + 34);
  } // UNSPEC, UNIX and UDP: no TCP client address to take; the connection's own stands
  // TLVs (type, 16-bit length, value) must fill the rest exactly.
  size_t at = addressLength;
  while (at < payload) {
    if (payload - at < 3) {
      return invalid("PROXY v2 TLV truncated");
    }
    const size_t length = (static_cast<size_t>(body[at + 1]) << 8) | body[at + 2];
    if (payload - at - 3 < length) {
      return invalid("PROXY v2 TLV longer than the header");
    }
    at += 3 + length;
  }
  return result;
}

} // namespace

ProxyParse parseProxyHeader(std::string_view data) {
  if (data.empty()) {
    return needMore(kProxyDetectLength);
  }
  if (data[0] == kV2Signature[0]) {
    size_t n = std::min(data.size(), sizeof kV2Signature);
    if (std::memcmp(data.data(), kV2Signature, n) != 0) {
      return invalid("not a PROXY protocol header");
    }
    return n < sizeof kV2Signature ? needMore(16) : parseV2(data);
  }
  size_t n = std::min(data.size(), kV1Prefix.size());
  if (data.substr(0, n) != kV1Prefix.substr(0, n)) {
    return invalid("not a PROXY protocol header");
  }
  return n < kV1Prefix.size() ? needMore(kV1Prefix.size()) : parseV1(data);
}

std::string buildProxyV1(const uv::SocketAddress& source, const uv::SocketAddress& destination) {
  return "PROXY " + std::string(source.family() == AF_INET6 ? "TCP6" : "TCP4") + " " +
         source.hostString() + " " + destination.hostString() + " " +
         std::to_string(source.port()) + " " + std::to_string(destination.port()) + "\r\n";
}

std::string buildProxyV2(const uv::SocketAddress& source, const uv::SocketAddress& destination,
                         std::string_view tlvs) {
  std::string out(kV2Signature, sizeof kV2Signature);
  const bool v6 = source.family() == AF_INET6;
  out.push_back(static_cast<char>(0x21));             // version 2, PROXY
  out.push_back(static_cast<char>(v6 ? 0x21 : 0x11)); // TCP over IPv6 / IPv4
  const size_t length = (v6 ? 36 : 12) + tlvs.size();
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length & 0xff));
  auto appendAddress = [&out](const uv::SocketAddress& a) {
    if (a.family() == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.raw());
      out.append(reinterpret_cast<const char*>(&sin6->sin6_addr), 16);
    } else {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a.raw());
      out.append(reinterpret_cast<const char*>(&sin->sin_addr), 4);
    }
  };
  appendAddress(source);
  appendAddress(destination);
  for (const uv::SocketAddress* a : {&source, &destination}) {
    const uint16_t port = htons(a->port());
    out.append(reinterpret_cast<const char*>(&port), 2);
  }
  out.append(tlvs);
  return out;
}

} // namespace gatehouse::proxy
