#include "gatehouse/http/head_scanner.h"

#include <algorithm>

namespace gatehouse::http {

const char* describe(HeadScanError error) {
  switch (error) {
  case HeadScanError::None:
    return "no error";
  case HeadScanError::BareCr:
    return "CR not followed by LF";
  case HeadScanError::BareLf:
    return "line ended by a bare LF";
  case HeadScanError::ObsFold:
    return "obsolete line folding (field line starts with whitespace)";
  case HeadScanError::EmptyFieldName:
    return "empty field name";
  case HeadScanError::WhitespaceBeforeColon:
    return "whitespace between field name and colon";
  case HeadScanError::NulByte:
    return "NUL byte in head";
  case HeadScanError::HeadTooLarge:
    return "head too large";
  case HeadScanError::TooManyFields:
    return "too many header fields";
  case HeadScanError::StartLineTooLong:
    return "request line too long";
  }
  return "unknown";
}

void HeadScanner::reset() {
  total_ = 0;
  lineLength_ = 0;
  lines_ = 0;
  afterCr_ = false;
  sawColon_ = false;
  sawSpace_ = false;
  error_ = HeadScanError::None;
}

HeadScanner::Result HeadScanner::scan(std::string_view data, size_t& used) {
  for (size_t i = 0; i < data.size(); ++i) {
    // Fast path through the start line and field values: only bytes <= CR need a look there.
    // The run stops where a limit would be crossed, so the byte-wise checks below report it.
    if (!afterCr_ && (lines_ == 0 || sawColon_) && lineLength_ > 0) {
      size_t allowance = limits_.maxHeadBytes > total_ ? limits_.maxHeadBytes - total_ : 0;
      if (lines_ == 0) {
        allowance = std::min(allowance, limits_.maxStartLine > lineLength_
                                            ? limits_.maxStartLine - lineLength_
                                            : size_t(0));
      }
      size_t end = std::min(data.size(), i + allowance);
      size_t run = i;
      while (run<end&& static_cast<unsigned char>(data[run])> '\r') {
        ++run;
      }
      total_ += run - i;
      lineLength_ += run - i;
      i = run;
      if (i == data.size()) {
        break;
      }
    }
    char c = data[i];
    if (++total_ > limits_.maxHeadBytes) {
      return fail(lines_ == 0 && lineLength_ > limits_.maxStartLine
                      ? HeadScanError::StartLineTooLong
                      : HeadScanError::HeadTooLarge);
    }
    if (afterCr_) {
      if (c != '\n') {
        return fail(HeadScanError::BareCr);
      }
      afterCr_ = false;
      if (lineLength_ == 0) {
        if (lines_ == 0) {
          continue; // an empty line before the start line is ignored (RFC 9112 2.2)
        }
        used = i + 1;
        return Result::Complete;
      }
      ++lines_;
      if (lines_ > limits_.maxFields + 1) {
        return fail(HeadScanError::TooManyFields);
      }
      lineLength_ = 0;
      sawColon_ = false;
      sawSpace_ = false;
      continue;
    }
    switch (c) {
    case '\r':
      afterCr_ = true;
      continue;
    case '\n':
      return fail(HeadScanError::BareLf);
    case '\0':
      return fail(HeadScanError::NulByte);
    default:
      break;
    }
    if (lines_ > 0) {
      // Rules for field lines (the start line is left to llhttp).
      if (lineLength_ == 0 && (c == ' ' || c == '\t')) {
        return fail(HeadScanError::ObsFold);
      }
      if (!sawColon_) {
        if (c == ':') {
          if (lineLength_ == 0) {
            return fail(HeadScanError::EmptyFieldName);
          }
          if (sawSpace_) {
            return fail(HeadScanError::WhitespaceBeforeColon);
          }
          sawColon_ = true;
        } else if (c == ' ' || c == '\t') {
          sawSpace_ = true;
        }
      }
    } else if (lineLength_ >= limits_.maxStartLine) {
      return fail(HeadScanError::StartLineTooLong);
    }
    ++lineLength_;
  }
  used = data.size();
  return Result::NeedMore;
}

} // namespace gatehouse::http
