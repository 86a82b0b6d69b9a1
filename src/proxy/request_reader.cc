#include "gatehouse/proxy/request_reader.h"

#include <cctype>

namespace gatehouse::proxy {

bool plausibleChunkStart(std::string_view data) {
  size_t digits = 0;
  while (digits < data.size() && std::isxdigit(static_cast<unsigned char>(data[digits]))) {
    ++digits;
  }
  if (digits == data.size()) {
    return digits <= 16;
  }
  if (digits == 0 || digits > 16) {
    return false;
  }
  char next = data[digits];
  return next == '\r' || next == ';' || next == ' ' || next == '\t';
}

RequestReader::RequestReader(const http::ParserLimits& limits, ReaderEvents& events)
    : events_(events), parser_(http::MessageParser::Type::Request, limits, this) {}

void RequestReader::keep(std::string_view data) {
  kept_.append(data);
}

std::string RequestReader::takeKept() {
  std::string out;
  out.swap(kept_);
  return out;
}

void RequestReader::feed(std::string_view data) {
  const bool outer = !feeding_;
  feeding_ = true;
  bool going = true;
  while (going) {
    switch (events_.readMode()) {
    case ReadMode::Stop:
      going = false;
      break;
    case ReadMode::Heads: {
      if (data.empty()) {
        going = false;
        break;
      }
      if (!parser_.headStarted() && !parser_.inBody()) {
        events_.onReaderHeadBegins();
      }
      size_t used = 0;
      http::ParseStatus status = parser_.execute(data, used);
      data.remove_prefix(used);
      if (status == http::ParseStatus::HeadComplete) {
        events_.onReaderHead(data);
        if (dropRest_) {
          dropRest_ = false;
          data = {};
        }
      } else if (status == http::ParseStatus::MessageComplete ||
                 status == http::ParseStatus::Upgrade) {
        discardLeft_ = 0; // the end of a refused request's body
      } else if (status == http::ParseStatus::Error) {
        events_.onReaderError(false);
        going = false;
      } else {
        going = false; // NeedMore
      }
      break;
    }
    case ReadMode::Body: {
      size_t used = 0;
      http::ParseStatus status = parser_.execute(data, used);
      data.remove_prefix(used);
      if (status == http::ParseStatus::MessageComplete || status == http::ParseStatus::Upgrade) {
        // A non-WebSocket upgrade (h2c, say) was stripped on the way: the request simply
        // ends, and the parser reads the next one (MessageParser resets after an upgrade).
        events_.onReaderRequestEnd();
      } else {
        if (status == http::ParseStatus::Error) {
          events_.onReaderError(true);
        }
        going = false; // NeedMore or Error
      }
      break;
    }
    case ReadMode::UpgradeEnd: {
      // An upgrade request has no body: finish it; what follows is the other protocol.
      size_t used = 0;
      parser_.execute({}, used);
      events_.onReaderRequestEnd();
      break;
    }
    case ReadMode::Hold:
      keep(data); // not consuming now (waiting for a decision, the upstream, or pipelined)
      going = false;
      break;
    }
  }
  if (outer) {
    feeding_ = false;
    dropRest_ = false; // never outlives the bytes it was set for
  }
}

void RequestReader::resumeKept() {
  if (feeding_) {
    return;
  }
  std::string input = takeKept();
  feed(input);
}

bool RequestReader::finishBodyless() {
  if (!parser_.inBody() || parser_.framing() != http::BodyFraming::None) {
    return false;
  }
  size_t used = 0;
  return parser_.execute({}, used) == http::ParseStatus::MessageComplete;
}

bool RequestReader::discardRefused(bool isConnect, uint64_t limit) {
  if (isConnect) {
    // Whatever followed a refused CONNECT head (a TLS hello, say) is never read as HTTP.
    parser_.reset();
    kept_.clear();
    dropRest_ = feeding_;
    return true;
  }
  if (!parser_.inBody()) {
    return false;
  }
  const http::BodyFraming framing = parser_.framing();
  if (framing != http::BodyFraming::Chunked && framing != http::BodyFraming::ContentLength) {
    return false;
  }
  if (framing == http::BodyFraming::ContentLength && parser_.contentLength() > limit) {
    return false;
  }
  discardLeft_ = limit; // chunked bodies are cut at the same bound as they arrive
  return true;
}

void RequestReader::onBodyData(std::string_view data) {
  if (events_.readMode() == ReadMode::Body) {
    events_.onReaderBody(data);
    return;
  }
  // A refused request's body, read to keep the connection: bounded.
  if (data.size() > discardLeft_) {
    discardLeft_ = 0;
    events_.onReaderDiscardOverflow();
    return;
  }
  discardLeft_ -= data.size();
}

void RequestReader::onTrailers(const http::HeaderList& trailers) {
  events_.onReaderTrailers(trailers);
}

} // namespace gatehouse::proxy
