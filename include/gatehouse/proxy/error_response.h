#pragma once
// Responses the proxy writes itself: error pages with RFC 9209 Proxy-Status, and small local
// answers (OPTIONS at Max-Forwards 0, the "this is a proxy" page).

#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/message.h"

namespace gatehouse::proxy {

// Everything an error page and its Proxy-Status say.
struct ErrorResponse {
  errors::ProxyError error = errors::ProxyError::Internal;
  errors::StatusMode statusMode = errors::StatusMode::Proxy;
  std::string pseudonym;
  std::string detail; // e.g. "connect ECONNREFUSED"
  std::string requestId;
  std::string target;   // host:port the client asked for, when known
  std::string upstream; // resolved address tried, when known
  std::string rcode;    // DNS rcode for dns_error
  uint64_t elapsedMs = 0;
  std::string accept;           // the request's Accept field: picks HTML, JSON or text
  bool close = false;           // add Connection: close
  http::HeaderList extraFields; // e.g. Allow, Retry-After, Proxy-Authenticate
  // Proxy-Status members of the hops behind us (a parent proxy's), kept before ours.
  std::string upstreamProxyStatus;
};

// The Proxy-Status field value: `<pseudonym>; error=<type>; details="..."[; next-hop=...]`.
std::string proxyStatusValue(const ErrorResponse& response);
// The whole response: status line, fields, body.
std::string renderErrorResponse(const ErrorResponse& response);
// An sf-string: quoted, with `"` and `\` escaped and non-printable bytes replaced by '?'.
std::string sfString(std::string_view text);
// A local answer with the given status, extra fields and text body.
std::string renderLocalResponse(int status, const http::HeaderList& fields, std::string_view body,
                                std::string_view contentType, bool close);

} // namespace gatehouse::proxy
