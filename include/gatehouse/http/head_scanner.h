#pragma once
// A byte-level check of a message head, run before llhttp sees the bytes. llhttp 8.1.0 accepts
// several line-ending and folding forms that let a request be read two ways (request
// smuggling); this scanner refuses them, and enforces the size limits, so that no head the
// parser builds was read differently from how an upstream would read it.

#include <cstddef>
#include <string_view>

namespace gatehouse::http {

// Why a head was refused by the scanner.
enum class HeadScanError {
  None,
  BareCr,                // CR not followed by LF
  BareLf,                // LF not preceded by CR
  ObsFold,               // a field line starting with SP or HTAB
  EmptyFieldName,        // a field line starting with ':'
  WhitespaceBeforeColon, // SP or HTAB between field name and ':'
  NulByte,               // NUL anywhere in the head
  HeadTooLarge,          // more than maxHeadBytes
  TooManyFields,         // more than maxFields field lines
  StartLineTooLong,      // request line longer than maxStartLine
};

const char* describe(HeadScanError error);

// Size limits for one head.
struct HeadLimits {
  size_t maxHeadBytes = 64 * 1024;
  size_t maxFields = 100;
  size_t maxStartLine = 8 * 1024 + 32;
};

// Scans one head incrementally across reads. reset() before the next message's head.
class HeadScanner {
public:
  using Limits = HeadLimits;
  enum class Result { NeedMore, Complete, Error };

  HeadScanner() = default;
  explicit HeadScanner(Limits limits) : limits_(limits) {}

  // Scans `data`, the next bytes of the head. On Complete, `used` is how many of them belong to
  // the head (through the blank line); on NeedMore all were used.
  Result scan(std::string_view data, size_t& used);
  HeadScanError error() const { return error_; }
  void reset();

private:
  Result fail(HeadScanError e) {
    error_ = e;
    return Result::Error;
  }

  Limits limits_;
  size_t total_ = 0;      // head bytes seen so far
  size_t lineLength_ = 0; // bytes in the current line before its CR
  size_t lines_ = 0;      // complete lines seen (leading empty lines excluded)
  bool afterCr_ = false;  // last byte was CR
  bool sawColon_ = false; // the current field line has had its ':'
  bool sawSpace_ = false; // a SP/HTAB appeared in the current field name
  HeadScanError error_ = HeadScanError::None;
};

} // namespace gatehouse::http
