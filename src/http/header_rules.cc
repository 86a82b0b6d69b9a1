#include "gatehouse/http/header_rules.h"

#include <algorithm>
#include <vector>

namespace gatehouse::http {

namespace {

constexpr std::string_view kAlwaysHopByHop[] = {
    "connection",        "keep-alive",     "proxy-connection",    "te",
    "trailer",           "upgrade",        "proxy-authorization", "proxy-authenticate",
    "transfer-encoding", "content-length",
};

bool isListed(std::string_view name, const std::vector<std::string_view>& names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view n) { return equalsIgnoreCase(n, name); });
}

} // namespace

HeaderList withoutHopByHop(const HeaderList& in, HopByHopOptions options) {
  // Pass 1: what the Connection field names.
  std::vector<std::string_view> named = in.tokens("connection");
  HeaderList out;
  // Pass 2: copy what survives into a new list.
  for (const Header& field : in.fields()) {
    bool drop = isListed(field.name, named);
    for (std::string_view h : kAlwaysHopByHop) {
      drop = drop || equalsIgnoreCase(field.name, h);
    }
    if (options.keepUpgrade && equalsIgnoreCase(field.name, "upgrade")) {
      drop = false;
    }
    if (!drop) {
      out.add(field.name, field.value);
    }
  }
  return out;
}

bool wantsClose(const HeaderList& headers, int versionMinor) {
  if (headers.hasToken("connection", "close")) {
    return true;
  }
  if (versionMinor == 0) {
    return !headers.hasToken("connection", "keep-alive");
  }
  return false;
}

bool viaNames(const HeaderList& headers, std::string_view pseudonym) {
  for (std::string_view entry : headers.tokens("via")) {
    // entry: received-protocol RWS received-by [ RWS comment ]
    size_t space = entry.find_first_of(" \t");
    if (space == std::string_view::npos) {
      continue;
    }
    std::string_view by = trimOws(entry.substr(space + 1));
    by = by.substr(0, by.find_first_of(" \t"));
    if (equalsIgnoreCase(by, pseudonym)) {
      return true;
    }
    // A received-by with a port appended to a pseudonym that has none.
    size_t colon = by.rfind(':');
    if (pseudonym.find(':') == std::string_view::npos && colon != std::string_view::npos &&
        equalsIgnoreCase(by.substr(0, colon), pseudonym)) {
      return true;
    }
  }
  return false;
}

std::optional<uint64_t> maxForwards(const HeaderList& headers) {
  auto value = headers.get("max-forwards");
  if (!value) {
    return std::nullopt;
  }
  std::string_view v = trimOws(*value);
  if (v.empty() || v.size() > 18) {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

bool isWebSocketUpgrade(const RequestHead& request) {
  return request.method == "GET" && request.headers.hasToken("connection", "upgrade") &&
         request.headers.hasToken("upgrade", "websocket");
}

} // namespace gatehouse::http
