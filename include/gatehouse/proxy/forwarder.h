#pragma once
// Pure message transformations for forwarding (RFC 9110 7.6, RFC 9112): the head sent to the
// upstream for a client's absolute-form request, and the head sent back to the client. No I/O
// here, so every rule is unit-tested directly.

#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/http/message.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/http/uri.h"

namespace gatehouse::proxy {

// What the request head to the upstream needs beyond the client's head.
struct UpstreamRequestPlan {
  const http::RequestHead* request = nullptr;
  const http::AbsoluteUri* uri = nullptr;
  http::BodyFraming framing = http::BodyFraming::None;
  uint64_t contentLength = 0;
  std::string_view pseudonym;
  bool webSocket = false; // relay Upgrade: websocket
  // To a parent proxy: the target stays in absolute-form and our own credentials go along
  // (the client's Proxy-Authorization never does: it is hop-by-hop and ours).
  bool absoluteForm = false;
  std::string_view proxyAuthorization;
};

// "METHOD origin-form HTTP/1.1", Host from the URI, client fields minus hop-by-hop ones and
// Host, Max-Forwards decremented for OPTIONS/TRACE, our Via appended, framing re-done.
std::string buildUpstreamRequestHead(const UpstreamRequestPlan& plan);

// How the response goes to the client.
struct ClientResponsePlan {
  std::string head;
  bool chunked = false;    // body re-framed as chunked
  bool closeAfter = false; // the connection closes after this response
};

struct ClientResponseInput {
  const http::ResponseHead* response = nullptr;
  http::BodyFraming framing = http::BodyFraming::None; // as received from the upstream
  uint64_t contentLength = 0;
  bool requestWasHead = false;
  int clientVersionMinor = 1;
  bool clientKeepAlive = true;
  std::string_view pseudonym;
  bool switchingProtocols = false; // a relayed 101: keep Upgrade, say Connection: upgrade
};

ClientResponsePlan buildClientResponseHead(const ClientResponseInput& input);

} // namespace gatehouse::proxy
