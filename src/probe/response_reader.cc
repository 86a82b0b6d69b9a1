// One response from the proxy: a lenient head reader for the report, the project's strict
// parser (src/http) as a second opinion and for body framing, curl's rules for when the
// connection can carry the next request (a 407 body must be delimited to drain it).

#include "gatehouse/probe/response_reader.h"

#include <cstdio>

#include "gatehouse/http/parser.h"

namespace gatehouse::probe {

namespace {

// Counts body bytes and keeps the first few for the report (and all, up to a cap, if asked).
class BodyCollector : public http::BodySink {
public:
  BodyCollector(ResponseRecord& record, std::string* body) : record_(record), body_(body) {}
  void onBodyData(std::string_view data) override {
    record_.bodyBytes += data.size();
    if (record_.bodyExcerpt.size() < 240) {
      record_.bodyExcerpt.append(data.substr(0, 240 - record_.bodyExcerpt.size()));
    }
    if (body_ != nullptr && body_->size() < kMaxBodyBytes) {
      body_->append(data.substr(0, kMaxBodyBytes - body_->size()));
    }
  }

private:
  ResponseRecord& record_;
  std::string* body_;
};

std::string escapeBytes(std::string_view bytes, size_t max) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// End of the head in `buffer` (index after the blank line), or npos.
size_t headEnd(const std::string& buffer) {
  size_t crlf = buffer.find("\r\n\r\n");
  size_t lf = buffer.find("\n\n");
  if (crlf == std::string::npos && lf == std::string::npos) {
    return std::string::npos;
  }
  if (lf == std::string::npos || (crlf != std::string::npos && crlf < lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

bool startsLikeHttp(std::string_view bytes) {
  std::string_view prefix = "HTTP/";
  size_t n = std::min(bytes.size(), prefix.size());
  return bytes.substr(0, n) == prefix.substr(0, n);
}

} // namespace

bool parseHeadLenient(std::string_view head, ResponseRecord& record) {
  record.headers = http::HeaderList();
  size_t pos = 0;
  bool first = true;
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    std::string_view line =
        head.substr(pos, nl == std::string_view::npos ? head.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? head.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (first) {
      first = false;
      if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') {
        return false;
      }
      record.version = std::string(line.substr(0, 8));
      int status = 0;
      for (size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') {
          return false;
        }
        status = status * 10 + (line[i] - '0');
      }
      record.status = status;
      record.reason = line.size() > 13 ? std::string(line.substr(13)) : "";
      continue;
    }
    if (line.empty()) {
      break;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue; // reported by the strict parser
    }
    record.headers.add(std::string(http::trimOws(line.substr(0, colon))),
                       std::string(http::trimOws(line.substr(colon + 1))));
  }
  return !first;
}

bool readResponse(Connection& connection, const std::string& method,
                  std::chrono::milliseconds timeout, ResponseRecord& record, std::string& error,
                  std::string* body) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  };
  std::string buffer;
  bool eof = false;
  size_t end = std::string::npos;
  // Head, skipping interim responses.
  while (true) {
    end = headEnd(buffer);
    if (end == std::string::npos) {
      if (!startsLikeHttp(buffer) || buffer.size() > kMaxHeadBytes || eof) {
        if (buffer.empty()) {
          error = eof ? "the proxy closed the connection without answering" : error;
          return false;
        }
        record.notHttp = true;
        record.rawExcerpt = escapeBytes(buffer, 160);
        record.closeAfter = true;
        record.closeReason = startsLikeHttp(buffer) ? "the head never ended" : "not HTTP";
        return true;
      }
      std::string readError;
      ReadOutcome outcome = connection.readSome(buffer, left(), readError);
      if (outcome == ReadOutcome::Eof) {
        eof = true;
      } else if (outcome == ReadOutcome::Reset) {
        if (buffer.empty()) {
          error = "the proxy reset the connection without answering";
          return false;
        }
        eof = true;
      } else if (outcome == ReadOutcome::Timeout) {
        if (buffer.empty()) {
          error = "no answer within " + std::to_string(timeout.count()) + " ms";
          return false;
        }
        eof = true;
      } else if (outcome == ReadOutcome::Error) {
        error = readError;
        return false;
      }
      continue;
    }
    if (!parseHeadLenient(std::string_view(buffer).substr(0, end), record)) {
      record.notHttp = true;
      record.rawExcerpt = escapeBytes(buffer, 160);
      record.closeAfter = true;
      record.closeReason = "not HTTP";
      return true;
    }
    if (record.status >= 100 && record.status < 200 && record.status != 101) {
      record.interim.push_back(record.status);
      buffer.erase(0, end);
      continue;
    }
    break;
  }
  for (const auto& field : record.headers.fields()) {
    if (http::equalsIgnoreCase(field.name, "Proxy-Authenticate")) {
      parseChallenges(field.value, record.proxyChallenges);
    } else if (http::equalsIgnoreCase(field.name, "WWW-Authenticate")) {
      parseChallenges(field.value, record.wwwChallenges);
    }
  }
  if (record.headers.hasToken("Connection", "close") ||
      record.headers.hasToken("Proxy-Connection", "close")) {
    record.closeAfter = true;
    record.closeReason = "Connection: close";
  } else if (record.version == "HTTP/1.0" && !record.headers.hasToken("Connection", "keep-alive") &&
             !record.headers.hasToken("Proxy-Connection", "keep-alive")) {
    record.closeAfter = true;
    record.closeReason = "HTTP/1.0 without keep-alive";
  }
  bool tunnel = method == "CONNECT" && record.status >= 200 && record.status < 300;
  if (tunnel) {
    return true; // what follows belongs to the tunnel
  }
  // The strict parser reads the head again (second opinion) and frames the body.
  BodyCollector collector(record, body);
  http::MessageParser parser(http::MessageParser::Type::Response, http::ParserLimits{}, &collector);
  parser.setRequestWasHead(method == "HEAD");
  size_t used = 0;
  http::ParseStatus status = parser.execute(buffer, used);
  if (status == http::ParseStatus::Error) {
    record.strictError = parser.errorReason();
    // Without trustworthy framing only a Content-Length body can be skipped.
    auto length = record.headers.get("Content-Length");
    size_t want = 0;
    if (length && !length->empty() && length->size() < 10 &&
        length->find_first_not_of("0123456789") == std::string_view::npos) {
      want = std::stoul(std::string(*length));
    } else {
      record.closeAfter = true;
      record.closeReason = "unreadable framing";
      return true;
    }
    std::string rest = buffer.substr(end);
    while (rest.size() < want && !eof) {
      std::string readError;
      if (connection.readSome(rest, left(), readError) != ReadOutcome::Data) {
        eof = true;
      }
    }
    record.bodyBytes = std::min(rest.size(), want);
    record.bodyExcerpt = rest.substr(0, std::min<size_t>(240, record.bodyBytes));
    if (rest.size() < want) {
      record.closeAfter = true;
      record.closeReason = "body shorter than Content-Length";
    }
    return true;
  }
  buffer.erase(0, used);
  if (status == http::ParseStatus::NeedMore) {
    record.strictError = "the strict parser did not see the end of the head";
    record.closeAfter = true;
    record.closeReason = "unreadable framing";
    return true;
  }
  if (status == http::ParseStatus::HeadComplete) {
    if (parser.framing() == http::BodyFraming::UntilClose) {
      record.closeAfter = true;
      record.closeReason += std::string(record.closeReason.empty() ? "" : "; ") +
                            "no Content-Length or chunked: the body ends at close";
    }
    while (true) {
      used = 0;
      status = parser.execute(buffer, used);
      buffer.erase(0, used);
      if (status == http::ParseStatus::MessageComplete || status == http::ParseStatus::Upgrade) {
        break;
      }
      if (status == http::ParseStatus::Error) {
        record.strictError = parser.errorReason();
        record.closeAfter = true;
        record.closeReason = "body framing error";
        break;
      }
      if (record.bodyBytes > kMaxBodyBytes) {
        record.closeAfter = true;
        record.closeReason = "body larger than the probe reads";
        break;
      }
      if (eof) {
        if (parser.finish() == http::ParseStatus::Error) {
          record.closeAfter = true;
          record.closeReason = "the connection closed inside the body";
        } else {
          record.closeAfter = true;
          if (record.closeReason.empty()) {
            record.closeReason = "the proxy closed the connection after the response";
          }
        }
        break;
      }
      std::string readError;
      ReadOutcome outcome = connection.readSome(buffer, left(), readError);
      if (outcome == ReadOutcome::Timeout) {
        record.closeAfter = true;
        record.closeReason = "the body did not end in time";
        break;
      }
      if (outcome != ReadOutcome::Data) {
        eof = true;
      }
    }
  }
  if (!buffer.empty()) {
    record.closeAfter = true;
    record.closeReason = "bytes after the response";
  }
  return true;
}

} // namespace gatehouse::probe
