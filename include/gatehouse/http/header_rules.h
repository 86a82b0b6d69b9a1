#pragma once
// Field rules a proxy applies between its two connections (RFC 9110 section 7.6).

#include <optional>
#include <string_view>

#include "gatehouse/http/message.h"

namespace gatehouse::http {

// What to keep that is otherwise hop-by-hop.
struct HopByHopOptions {
  bool keepUpgrade = false; // relaying a WebSocket upgrade: keep Upgrade
};

// Returns a new list without hop-by-hop fields: Connection and every field it names,
// Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization, Proxy-Authenticate,
// and the framing fields Transfer-Encoding and Content-Length (the proxy re-frames).
// Two passes (collect the Connection tokens, then filter into a new list), never erase while
// iterating: the bug behind tinyproxy's CVE-2023-49606.
HeaderList withoutHopByHop(const HeaderList& in, HopByHopOptions options = {});

// True when the message asks to close the connection after it, judged from the Connection
// tokens ourselves (llhttp 8.1.0 misses "close" followed by a tab).
bool wantsClose(const HeaderList& headers, int versionMinor);

// True when some Via entry's received-by is `pseudonym` (with or without a port).
bool viaNames(const HeaderList& headers, std::string_view pseudonym);

// The Max-Forwards value, if present and a valid number; nullopt when absent or invalid.
std::optional<uint64_t> maxForwards(const HeaderList& headers);

// True when the request asks for a WebSocket upgrade (Upgrade: websocket, Connection: upgrade).
bool isWebSocketUpgrade(const RequestHead& request);

} // namespace gatehouse::http
