// Feeds arbitrary bytes through the request path: the strict head scanner and llhttp adapter
// (split at a data-chosen point, as reads split), then every rule applied to a parsed head.

#include <cstddef>
#include <cstdint>
#include <string>

#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/http/header_rules.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/forwarder.h"

namespace {
struct Sink : gatehouse::http::BodySink {
  size_t bytes = 0;
  void onBodyData(std::string_view data) override { bytes += data.size(); }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  if (size == 0) {
    return 0;
  }
  const size_t split = data[0] % (size + 1);
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  Sink sink;
  http::ParserLimits limits;
  limits.head.maxHeadBytes = 4096;
  http::MessageParser parser(http::MessageParser::Type::Request, limits, &sink);
  std::string_view pieces[2] = {input.substr(0, std::min(split, input.size())),
                                input.substr(std::min(split, input.size()))};
  for (std::string_view piece : pieces) {
    for (int guard = 0; guard < 10'000; ++guard) {
      size_t used = 0;
      http::ParseStatus status = parser.execute(piece, used);
      piece.remove_prefix(used);
      if (status == http::ParseStatus::Error || status == http::ParseStatus::Upgrade) {
        return 0;
      }
      if (status == http::ParseStatus::HeadComplete) {
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
          return 0; // the rest is tunnel data
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
        continue;
      }
      if (status == http::ParseStatus::NeedMore && piece.empty()) {
        break;
      }
    }
  }
  return 0;
}
