// Feeds arbitrary bytes through the request path: the strict head scanner and llhttp adapter
// (split at a data-chosen point, as reads split), then every rule applied to a parsed head,
// including Proxy-Authorization decoding.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_feed.h"
#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/http/header_rules.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/forwarder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  if (size == 0) {
    return 0;
  }
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::CountingSink sink;
  http::ParserLimits limits;
  limits.head.maxHeadBytes = 4096;
  http::MessageParser parser(http::MessageParser::Type::Request, limits, &sink);
  fuzz::feedInTwoPieces(parser, input, data[0] % (size + 1), [&] {
    const http::RequestHead& head = parser.request();
    http::withoutHopByHop(head.headers);
    http::wantsClose(head.headers, head.versionMinor);
    http::viaNames(head.headers, "gh");
    http::maxForwards(head.headers);
    if (auto credentials = head.headers.get("proxy-authorization")) {
      auth::Refusal refusal;
      std::string scheme;
      auth::parseBasic(*credentials, refusal, scheme);
    }
    std::string error;
    if (head.isConnect()) {
      http::parseAuthorityForm(head.target, error);
      return false; // the rest is tunnel data
    }
    if (auto uri = http::parseAbsoluteUri(head.target, error)) {
      proxy::UpstreamRequestPlan plan{&head,
                                      &*uri,
                                      parser.framing(),
                                      parser.contentLength(),
                                      "gh",
                                      http::isWebSocketUpgrade(head)};
      proxy::buildUpstreamRequestHead(plan);
    }
    return true;
  });
  return 0;
}
