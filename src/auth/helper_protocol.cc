#include "gatehouse/auth/helper_protocol.h"

#include "gatehouse/http/message.h"

namespace gatehouse::auth {

namespace {

bool isKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool isSpace(char c) {
  return c == ' ' || c == '\t';
}

void skipSpace(std::string_view& s) {
  while (!s.empty() && isSpace(s.front())) {
    s.remove_prefix(1);
  }
}

// A value after "key=": a quoted string (backslash escapes, as Squid's strwordtok) or a
// %-escaped token up to the next space. Consumes it from `s`.
std::string takeValue(std::string_view& s) {
  std::string value;
  if (!s.empty() && s.front() == '"') {
    s.remove_prefix(1);
    while (!s.empty() && s.front() != '"') {
      char c = s.front();
      s.remove_prefix(1);
      if (c == '\\' && !s.empty()) {
        c = s.front();
        s.remove_prefix(1);
        c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
      }
      value.push_back(c);
    }
    if (!s.empty()) {
      s.remove_prefix(1); // closing quote
    }
    return value;
  }
  size_t end = 0;
  while (end < s.size() && !isSpace(s[end])) {
    ++end;
  }
  value = helperUnescape(s.substr(0, end));
  s.remove_prefix(end);
  return value;
}

// Starts-with `code` followed by a space or the end.
bool takeCode(std::string_view& s, std::string_view code) {
  if (s.substr(0, code.size()) != code || (s.size() > code.size() && !isSpace(s[code.size()]))) {
    return false;
  }
  s.remove_prefix(code.size());
  return true;
}

} // namespace

const char* resultName(HelperResult result) {
  switch (result) {
  case HelperResult::Ok:
    return "OK";
  case HelperResult::Err:
    return "ERR";
  case HelperResult::BrokenHelper:
    return "BH";
  case HelperResult::Unknown:
    return "unknown";
  }
  return "unknown";
}

std::string_view HelperReply::note(std::string_view key) const {
  for (const auto& [k, v] : notes) {
    if (k == key) {
      return v;
    }
  }
  return {};
}

std::optional<HelperReply> parseHelperReply(std::string_view line, bool withChannel) {
  HelperReply reply;
  if (withChannel) {
    uint64_t id = 0;
    size_t digits = 0;
    while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') {
      if (digits >= 18) {
        return std::nullopt; // more digits than any ID we send
      }
      id = id * 10 + static_cast<uint64_t>(line[digits] - '0');
      ++digits;
    }
    if (digits == 0 || digits == line.size() || !isSpace(line[digits])) {
      return std::nullopt;
    }
    reply.channel = id;
    line.remove_prefix(digits);
    skipSpace(line);
  }
  if (takeCode(line, "OK")) {
    reply.result = HelperResult::Ok;
  } else if (takeCode(line, "ERR")) {
    reply.result = HelperResult::Err;
  } else if (takeCode(line, "BH")) {
    reply.result = HelperResult::BrokenHelper;
  } else {
    return reply; // Unknown: the caller logs it as garbage
  }
  skipSpace(line);
  // key=value pairs until something that is not one.
  while (!line.empty()) {
    size_t k = 0;
    while (k < line.size() && isKeyChar(line[k])) {
      ++k;
    }
    if (k == 0 || k == line.size() || line[k] != '=' ||
        (k + 1 < line.size() && isSpace(line[k + 1]))) {
      break;
    }
    std::string key(line.substr(0, k));
    line.remove_prefix(k + 1);
    std::string value = takeValue(line);
    reply.notes.emplace_back(std::move(key), std::move(value));
    skipSpace(line);
  }
  // Squid's compatibility rule: a BH's remaining text is its message.
  if (!line.empty() && reply.result == HelperResult::BrokenHelper) {
    reply.notes.emplace_back("message", std::string(line));
  }
  return reply;
}

void appendHelperEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
}

std::string helperEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3);
  appendHelperEscaped(out, text);
  return out;
}

std::string helperUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = http::hexDigitValue(text[i + 1]);
      int lo = http::hexDigitValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string loggableReply(std::string_view line) {
  constexpr size_t kMax = 120;
  std::string out;
  for (size_t i = 0; i < line.size() && i < kMax; ++i) {
    const auto u = static_cast<unsigned char>(line[i]);
    if (u < 0x20 || u >= 0x7f || line[i] == '"' || line[i] == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(line[i]);
    }
  }
  if (line.size() > kMax) {
    out += "...";
  }
  return out;
}

bool LineSplitter::feed(std::string_view bytes) {
  buffer_.append(bytes);
  size_t lastNewline = buffer_.rfind('\n');
  size_t tail =
      lastNewline == std::string::npos ? buffer_.size() : buffer_.size() - lastNewline - 1;
  return tail <= maxLine_;
}

std::optional<std::string> LineSplitter::next() {
  size_t newline = buffer_.find('\n');
  if (newline == std::string::npos) {
    return std::nullopt;
  }
  std::string line = buffer_.substr(0, newline);
  buffer_.erase(0, newline + 1);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return line;
}

} // namespace gatehouse::auth
