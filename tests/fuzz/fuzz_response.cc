// Feeds arbitrary bytes through the response path: the llhttp adapter as an upstream's
// responses arrive (split at a data-chosen point), and the client response head built from
// each parsed head.

#include <cstddef>
#include <cstdint>
#include <string>

#include "gatehouse/http/parser.h"
#include "gatehouse/proxy/forwarder.h"

namespace {
struct Sink : gatehouse::http::BodySink {
  size_t bytes = 0;
  void onBodyData(std::string_view data) override { bytes += data.size(); }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  if (size < 2) {
    return 0;
  }
  const size_t split = data[0] % size;
  const bool wasHead = data[1] & 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  Sink sink;
  http::MessageParser parser(http::MessageParser::Type::Response, http::ParserLimits{}, &sink);
  parser.setRequestWasHead(wasHead);
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
        proxy::ClientResponseInput in;
        in.response = &parser.response();
        in.framing = parser.framing();
        in.contentLength = parser.contentLength();
        in.requestWasHead = wasHead;
        in.pseudonym = "gh";
        in.clientVersionMinor = data[1] & 2 ? 1 : 0;
        proxy::buildClientResponseHead(in);
        continue;
      }
      if (status == http::ParseStatus::NeedMore && piece.empty()) {
        break;
      }
    }
  }
  parser.finish();
  return 0;
}
