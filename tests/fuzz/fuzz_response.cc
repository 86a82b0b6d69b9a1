// Feeds arbitrary bytes through the response path: the llhttp adapter as an upstream's
// responses arrive (split at a data-chosen point), and the client response head built from
// each parsed head.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_feed.h"
#include "gatehouse/proxy/forwarder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  if (size < 2) {
    return 0;
  }
  const bool wasHead = data[1] & 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  fuzz::CountingSink sink;
  http::MessageParser parser(http::MessageParser::Type::Response, http::ParserLimits{}, &sink);
  parser.setRequestWasHead(wasHead);
  bool open = fuzz::feedInTwoPieces(
      parser, input, data[0] % size,
      [&] {
        proxy::ClientResponseInput in;
        in.response = &parser.response();
        in.framing = parser.framing();
        in.contentLength = parser.contentLength();
        in.requestWasHead = wasHead;
        in.pseudonym = "gh";
        in.clientVersionMinor = data[1] & 2 ? 1 : 0;
        proxy::buildClientResponseHead(in);
        return true;
      },
      [&](std::string_view& rest) {
        // Bit 2: bytes that would follow go around the parser, as ClientConnection splices them.
        uint64_t skippable = parser.skippableBodyBytes();
        if ((data[1] & 4) && skippable > 0) {
          size_t take = static_cast<size_t>(std::min<uint64_t>(skippable, rest.size()));
          rest.remove_prefix(take);
          if (parser.skipBody(take) == http::ParseStatus::MessageComplete && rest.empty()) {
            return;
          }
        }
      });
  if (open) {
    parser.finish();
  }
  return 0;
}
