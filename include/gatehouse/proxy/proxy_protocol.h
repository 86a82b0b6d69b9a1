#pragma once
// The PROXY protocol header a load balancer (HAProxy, Envoy, AWS NLB) puts before the first
// byte of each connection, naming the real client: version 1 (one text line, at most 107
// bytes) and version 2 (a 16-byte binary prefix, addresses and TLVs). See HAProxy's
// doc/proxy-protocol.txt. Pure parsing: no sockets.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/uv/socket_address.h"

namespace gatehouse::proxy {

// Bounds: v1 lines are at most 107 bytes with CRLF; v2 headers carry a 16-bit length, capped
// here (addresses take at most 216 bytes; the rest is TLVs nobody needs in bulk).
inline constexpr size_t kProxyV1MaxLength = 107;
inline constexpr size_t kProxyV2MaxLength = 16 + 4096;
// Bytes enough to tell v1 from v2 from neither.
inline constexpr size_t kProxyDetectLength = 8;

struct ProxyHeader {
  int version = 0;   // 1 or 2
  size_t length = 0; // bytes the header takes; what follows is the client's own data
  // The client and the address it connected to, as the balancer saw them; absent for v1
  // UNKNOWN, v2 LOCAL (the balancer's own health checks) and v2 families other than TCP
  // over IPv4/IPv6: the connection's own addresses stand then.
  std::optional<uv::SocketAddress> source;
  std::optional<uv::SocketAddress> destination;
  bool local = false; // v2 LOCAL command
};

struct ProxyParse {
  enum class Status {
    NeedMore, // a valid prefix: read more (bounded by the maxima above)
    Done,     // `header` is complete
    Invalid,  // not a PROXY header or a malformed one: refuse the connection
  };
  Status status = Status::NeedMore;
  ProxyHeader header;
  std::string error; // why, when Invalid
  // For NeedMore: bytes still needed at least (v2 knows its length after 16 bytes).
  size_t needAtLeast = 0;
};

// Parses the start of a connection's bytes.
ProxyParse parseProxyHeader(std::string_view data);

// Builds headers (tests and the fuzz seeds): a v1 line, and a v2 PROXY header over TCP with
// optional raw TLV bytes.
std::string buildProxyV1(const uv::SocketAddress& source, const uv::SocketAddress& destination);
std::string buildProxyV2(const uv::SocketAddress& source, const uv::SocketAddress& destination,
                         std::string_view tlvs = {});

} // namespace gatehouse::proxy
