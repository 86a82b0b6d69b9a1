// Feeds arbitrary bytes as helper output: split into lines (in two reads at a data-chosen
// point, as pipe reads split), each parsed as a reply with and without channel IDs, with
// the kv-pair values run back through the escaping helpers.

#include <cstddef>
#include <cstdint>
#include <string>

#include "gatehouse/auth/helper_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::auth;
  if (size == 0) {
    return 0;
  }
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t split = data[0] % (input.size() + 1);
  LineSplitter splitter(1024);
  for (std::string_view piece : {input.substr(0, split), input.substr(split)}) {
    if (!splitter.feed(piece)) {
      return 0; // an over-long line: the pool kills such a helper
    }
    while (auto line = splitter.next()) {
      for (bool withChannel : {false, true}) {
        auto reply = parseHelperReply(*line, withChannel);
        if (!reply) {
          continue;
        }
        for (const auto& [key, value] : reply->notes) {
          if (helperUnescape(helperEscape(value)) != value) {
            __builtin_trap(); // escaping must round-trip every byte
          }
        }
        loggableReply(reply->note("message"));
        resultName(reply->result);
      }
    }
  }
  return 0;
}
