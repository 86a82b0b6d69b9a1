#pragma once
// What the HTTP fuzz targets do with their input: feed a parser in two pieces split at a
// data-chosen point (as reads split), calling `onHead` at every complete head.

#include <cstddef>
#include <string_view>

#include "gatehouse/http/parser.h"

namespace gatehouse::fuzz {

// Body bytes and trailers are read, byte by byte, so a span that runs past its buffer is
// caught by ASan here rather than only where a real sink would copy it.
struct CountingSink : http::BodySink {
  size_t bytes = 0;
  unsigned checksum = 0;
  size_t trailerFields = 0;
  void onBodyData(std::string_view data) override {
    bytes += data.size();
    for (char c : data) {
      checksum += static_cast<unsigned char>(c);
    }
  }
  void onTrailers(const http::HeaderList& trailers) override {
    for (const http::Header& field : trailers.fields()) {
      ++trailerFields;
      onBodyData(field.name);
      onBodyData(field.value);
    }
  }
};

// Returns false when the parser stopped for good (error or protocol switch) or `onHead` asked
// to stop by returning false. `between` sees the second piece before it is fed and may take
// bytes off its front (as a splice takes body bytes out of the socket).
template <class OnHead, class Between>
bool feedInTwoPieces(http::MessageParser& parser, std::string_view input, size_t split,
                     OnHead onHead, Between between) {
  split = split < input.size() ? split : input.size();
  std::string_view pieces[2] = {input.substr(0, split), input.substr(split)};
  for (int index = 0; index < 2; ++index) {
    std::string_view piece = pieces[index];
    if (index == 1) {
      between(piece);
    }
    for (int guard = 0; guard < 10'000; ++guard) {
      size_t used = 0;
      http::ParseStatus status = parser.execute(piece, used);
      piece.remove_prefix(used);
      if (status == http::ParseStatus::Error || status == http::ParseStatus::Upgrade) {
        return false;
      }
      if (status == http::ParseStatus::HeadComplete && !onHead()) {
        return false;
      }
      if (status == http::ParseStatus::NeedMore && piece.empty()) {
        break;
      }
    }
  }
  return true;
}

template <class OnHead>
bool feedInTwoPieces(http::MessageParser& parser, std::string_view input, size_t split,
                     OnHead onHead) {
  return feedInTwoPieces(parser, input, split, onHead, [](std::string_view&) {});
}

} // namespace gatehouse::fuzz
