#include "gatehouse/http/parser.h"

#include <string.h> // explicit_bzero

#include <llhttp.h>

namespace gatehouse::http {

struct MessageParser::Llhttp {
  llhttp_t parser;
};

namespace {
MessageParser* owner(llhttp_t* p) {
  return static_cast<MessageParser*>(p->data);
}
constexpr char kEmpty[1] = {0};
} // namespace

// Trampolines from llhttp's C callbacks to the parser's members. They only record state.
struct MessageParser::Callbacks {
  static int onMessageBegin(llhttp_t* p) noexcept {
    MessageParser* self = owner(p);
    self->wipeCredentials();
    self->request_ = RequestHead{};
    self->response_ = ResponseHead{};
    self->trailers_ = HeaderList{};
    self->fieldName_.clear();
    self->fieldValue_.clear();
    self->framing_ = BodyFraming::None;
    self->contentLength_ = 0;
    return 0;
  }
  static int onUrl(llhttp_t* p, const char* at, size_t len) noexcept {
    MessageParser* self = owner(p);
    if (self->request_.method.empty()) {
      // Known from here on; set early so a head refused later still names its method.
      self->request_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
    }
    if (self->request_.target.size() + len > self->limits_.maxTargetLength) {
      self->errorStatus_ = 414;
      self->errorReason_ =
          "request target longer than " + std::to_string(self->limits_.maxTargetLength) + " bytes";
      return -1;
    }
    self->request_.target.append(at, len);
    return 0;
  }
  static int onStatus(llhttp_t* p, const char* at, size_t len) noexcept {
    owner(p)->response_.reason.append(at, len);
    return 0;
  }
  static int onHeaderField(llhttp_t* p, const char* at, size_t len) noexcept {
    owner(p)->fieldName_.append(at, len);
    return 0;
  }
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept {
    owner(p)->fieldValue_.append(at, len);
    return 0;
  }
  static int onHeaderValueComplete(llhttp_t* p) noexcept {
    MessageParser* self = owner(p);
    HeaderList& target =
        self->phase_ == Phase::Body
            ? self->trailers_
            : (self->type_ == Type::Request ? self->request_.headers : self->response_.headers);
    target.add(std::move(self->fieldName_), std::move(self->fieldValue_));
    self->fieldName_.clear();
    self->fieldValue_.clear();
    return 0;
  }
  static int onHeadersComplete(llhttp_t* p) noexcept {
    // Pause so the owner sees the head before any body byte is parsed.
    return HPE_PAUSED;
  }
  static int onBody(llhttp_t* p, const char* at, size_t len) noexcept {
    MessageParser* self = owner(p);
    if (self->sink_ && len > 0) { // skipBody() ends a body with an empty span
      self->sink_->onBodyData(std::string_view(at, len));
    }
    return 0;
  }
  static int onChunkHeader(llhttp_t* p) noexcept {
    MessageParser* self = owner(p);
    self->chunkExtensionBytes_ = 0;
    if (p->content_length > self->limits_.maxContentLength) {
      self->errorStatus_ = 400;
      self->errorReason_ = "chunk size too large";
      return -1;
    }
    return 0;
  }
  static int onChunkExtension(llhttp_t* p, const char*, size_t len) noexcept {
    MessageParser* self = owner(p);
    self->chunkExtensionBytes_ += len;
    if (self->chunkExtensionBytes_ > self->limits_.maxChunkExtension) {
      self->errorStatus_ = 400;
      self->errorReason_ = "chunk extension too long";
      return -1;
    }
    return 0;
  }
  static int onMessageComplete(llhttp_t* p) noexcept {
    MessageParser* self = owner(p);
    if (self->sink_ && !self->trailers_.empty()) {
      self->sink_->onTrailers(self->trailers_);
    }
    self->phase_ = Phase::Done;
    return HPE_PAUSED;
  }
};

MessageParser::MessageParser(Type type, const ParserLimits& limits, BodySink* sink)
    : type_(type), limits_(limits), sink_(sink), llhttp_(std::make_unique<Llhttp>()),
      scanner_(limits.head) {
  // One settings table for every parser: it only holds the callbacks (saves memory per
  // connection).
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = Callbacks::onMessageBegin;
    s.on_url = Callbacks::onUrl;
    s.on_status = Callbacks::onStatus;
    s.on_header_field = Callbacks::onHeaderField;
    s.on_header_value = Callbacks::onHeaderValue;
    s.on_header_value_complete = Callbacks::onHeaderValueComplete;
    s.on_headers_complete = Callbacks::onHeadersComplete;
    s.on_body = Callbacks::onBody;
    s.on_chunk_header = Callbacks::onChunkHeader;
    s.on_chunk_extension_name = Callbacks::onChunkExtension;
    s.on_chunk_extension_value = Callbacks::onChunkExtension;
    s.on_message_complete = Callbacks::onMessageComplete;
    return s;
  }();
  llhttp_init(&llhttp_->parser, type == Type::Request ? HTTP_REQUEST : HTTP_RESPONSE, &kSettings);
  llhttp_->parser.data = this;
  // No llhttp_set_lenient_* call, ever: every lenient flag stays off.
}

MessageParser::~MessageParser() {
  wipeCredentials();
}

void MessageParser::wipeCredentials() {
  // The proxy's own credentials die with the request head; the scratch may hold a part.
  request_.headers.wipe("proxy-authorization");
  ::explicit_bzero(fieldValue_.data(), fieldValue_.capacity());
}

bool MessageParser::keepAlive() const {
  return llhttp_should_keep_alive(&llhttp_->parser) != 0;
}

ParseStatus MessageParser::fail(int status, std::string reason) {
  if (errorStatus_ == 0) {
    errorStatus_ = status;
    errorReason_ = std::move(reason);
  }
  phase_ = Phase::Done;
  return ParseStatus::Error;
}

bool MessageParser::validateFraming() {
  llhttp_t& p = llhttp_->parser;
  const bool isRequest = type_ == Type::Request;
  const HeaderList& headers = isRequest ? request_.headers : response_.headers;
  int major = p.http_major;
  int minor = p.http_minor;
  if (major != 1 || (minor != 0 && minor != 1)) {
    fail(isRequest ? 505 : 502,
         "HTTP version " + std::to_string(major) + "." + std::to_string(minor) + " not supported");
    return false;
  }
  if (!isRequest && (p.status_code < 100 || p.status_code > 999)) {
    fail(502, "status code " + std::to_string(p.status_code) + " is not three digits");
    return false;
  }
  const size_t teCount = headers.count("transfer-encoding");
  const size_t clCount = headers.count("content-length");
  if (teCount > 0) {
    if (clCount > 0) {
      fail(400, "both Content-Length and Transfer-Encoding");
      return false;
    }
    if (isRequest && minor == 0) {
      fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      return false;
    }
    if (teCount > 1) {
      fail(400, "several Transfer-Encoding fields");
      return false;
    }
    std::string_view te = trimOws(*headers.get("transfer-encoding"));
    if (!equalsIgnoreCase(te, "chunked")) {
      bool listOrEmpty = te.empty() || te.find(',') != std::string_view::npos;
      fail(listOrEmpty ? 400 : 501,
           "Transfer-Encoding \"" + std::string(te) + "\" is not exactly \"chunked\"");
      return false;
    }
  }
  if (clCount > 1) {
    fail(400, "several Content-Length fields");
    return false;
  }
  if ((p.flags & F_CONTENT_LENGTH) && p.content_length > limits_.maxContentLength) {
    fail(400, "Content-Length too large");
    return false;
  }
  if (isRequest && request_.isConnect() && (teCount > 0 || p.content_length > 0)) {
    fail(400, "CONNECT request with a body");
    return false;
  }

  bool noBody = false;
  if (!isRequest) {
    int status = p.status_code;
    noBody = requestWasHead_ || (status >= 100 && status < 200) || status == 204 || status == 304;
    if (noBody) {
      // llhttp 8.1.0 would read a body for these; F_SKIPBODY is what returning 1 from
      // on_headers_complete sets, which a pausing callback cannot return.
      p.flags |= F_SKIPBODY;
    }
  }
  if (noBody || (isRequest && request_.isConnect())) {
    framing_ = BodyFraming::None;
  } else if (p.flags & F_CHUNKED) {
    framing_ = BodyFraming::Chunked;
  } else if (p.flags & F_CONTENT_LENGTH) {
    framing_ = p.content_length > 0 ? BodyFraming::ContentLength : BodyFraming::None;
    contentLength_ = p.content_length;
  } else if (!isRequest && llhttp_message_needs_eof(&p)) {
    framing_ = BodyFraming::UntilClose;
  } else {
    framing_ = BodyFraming::None;
  }
  return true;
}

ParseStatus MessageParser::onHeadParsed() {
  llhttp_t& p = llhttp_->parser;
  if (type_ == Type::Request) {
    request_.method = llhttp_method_name(static_cast<llhttp_method_t>(p.method));
    request_.versionMajor = p.http_major;
    request_.versionMinor = p.http_minor;
  } else {
    response_.status = p.status_code;
    response_.versionMajor = p.http_major;
    response_.versionMinor = p.http_minor;
  }
  if (!validateFraming()) {
    return ParseStatus::Error;
  }
  phase_ = Phase::Body;
  llhttp_resume(&p);
  return ParseStatus::HeadComplete;
}

std::string_view MessageParser::withoutTrailingOws(std::string_view chunk, bool headComplete,
                                                   std::string& scratch) {
  auto isOws = [](char c) { return c == ' ' || c == '\t'; };
  // Needed when a space or tab ends the chunk or comes before a CR. Looking only at the byte
  // before each CR (memchr finds them) keeps the common case, no such byte, off a per-byte loop.
  bool needed = !heldOws_.empty() || (!chunk.empty() && isOws(chunk.back()));
  for (size_t cr = chunk.find('\r'); !needed && cr != std::string_view::npos;
       cr = chunk.find('\r', cr + 1)) {
    needed = cr > 0 && isOws(chunk[cr - 1]);
  }
  if (!needed) {
    if (!startLineDone_ && chunk.find('\n') != std::string_view::npos) {
      startLineDone_ = true;
    }
    return chunk;
  }
  std::string input = heldOws_ + std::string(chunk);
  heldOws_.clear();
  scratch.reserve(input.size());
  size_t i = 0;
  while (i < input.size()) {
    if (isOws(input[i]) && startLineDone_) {
      size_t run = i;
      while (run < input.size() && isOws(input[run])) {
        ++run;
      }
      if (run == input.size() && !headComplete) {
        heldOws_ = input.substr(i); // may end a field value: decided with the next read
        break;
      }
      if (run < input.size() && input[run] == '\r') {
        i = run; // trailing OWS of a field value: not part of it
        continue;
      }
      scratch.append(input, i, run - i);
      i = run;
      continue;
    }
    if (input[i] == '\n') {
      startLineDone_ = true;
    }
    scratch.push_back(input[i++]);
  }
  return scratch;
}

ParseStatus MessageParser::execute(std::string_view data, size_t& used) {
  used = 0;
  llhttp_t& p = llhttp_->parser;
  if (errorStatus_ != 0) {
    return ParseStatus::Error;
  }
  if (phase_ == Phase::Done) {
    if (data.empty()) {
      return ParseStatus::NeedMore; // the last message stays readable until a new one starts
    }
    // The previous message ended; the next head starts here.
    heldOws_.clear();
    startLineDone_ = false;
    // After an upgrade request that was not upgraded (h2c stripped on the way, say) llhttp stays
    // paused for the upgrade: start it afresh, or the next request would be a 400.
    if (llhttp_get_errno(&p) == HPE_PAUSED_UPGRADE || p.upgrade != 0) {
      llhttp_reset(&p);
    }
    phase_ = Phase::Head;
    headBytes_ = 0;
    scanner_.reset();
    request_ = RequestHead{};
    response_ = ResponseHead{};
  }
  if (phase_ == Phase::Head) {
    if (data.empty()) {
      return ParseStatus::NeedMore;
    }
    size_t headPart = 0;
    HeadScanner::Result scan = scanner_.scan(data, headPart);
    if (scan == HeadScanner::Result::Error) {
      HeadScanError e = scanner_.error();
      if (type_ == Type::Request && request_.method.empty() && headBytes_ == 0) {
        // llhttp never saw this head; name its method for the log from the raw bytes.
        std::string_view line = data.substr(data.find_first_not_of("\r\n") == std::string_view::npos
                                                ? 0
                                                : data.find_first_not_of("\r\n"));
        std::string_view token = line.substr(0, std::min<size_t>(line.find(' '), 24));
        if (!token.empty() &&
            token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ-") == std::string_view::npos) {
          request_.method = std::string(token);
        }
      }
      int status = e == HeadScanError::HeadTooLarge || e == HeadScanError::TooManyFields ? 431
                   : e == HeadScanError::StartLineTooLong                                ? 414
                                                                                         : 400;
      return fail(status, describe(e));
    }
    headBytes_ += headPart;
    std::string scratch;
    std::string_view chunk = withoutTrailingOws(data.substr(0, headPart),
                                                scan == HeadScanner::Result::Complete, scratch);
    llhttp_errno_t err = llhttp_execute(&p, chunk.data(), chunk.size());
    if (err == HPE_PAUSED) {
      if (static_cast<size_t>(llhttp_get_error_pos(&p) - chunk.data()) != chunk.size()) {
        return fail(400, "malformed head");
      }
      used = headPart;
      return onHeadParsed();
    }
    if (err != HPE_OK) {
      return fail(400, llhttp_get_error_reason(&p) ? llhttp_get_error_reason(&p) : "parse error");
    }
    if (scan == HeadScanner::Result::Complete) {
      // The scanner saw the blank line but llhttp did not finish the head: they disagree.
      return fail(400, "malformed head");
    }
    used = headPart;
    return ParseStatus::NeedMore;
  }
  // Body phase; an empty feed still lets llhttp finish a message with no body.
  const char* base = data.empty() ? kEmpty : data.data();
  llhttp_errno_t err = llhttp_execute(&p, base, data.size());
  if (err == HPE_OK) {
    used = data.size();
    return ParseStatus::NeedMore;
  }
  used = static_cast<size_t>(llhttp_get_error_pos(&p) - base);
  if (err == HPE_PAUSED) {
    llhttp_resume(&p);
    return ParseStatus::MessageComplete;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    phase_ = Phase::Done;
    return ParseStatus::Upgrade;
  }
  return fail(type_ == Type::Request ? 400 : 502,
              llhttp_get_error_reason(&p) ? llhttp_get_error_reason(&p) : "parse error");
}

uint64_t MessageParser::skippableBodyBytes() const {
  const llhttp_t& p = llhttp_->parser;
  // Once a body byte was parsed, llhttp sits in its consume-content-length state with
  // content_length counting down; that state completes even on an empty execute, which is what
  // skipBody() relies on (pinned by tests/unit/http/parser_test.cc for llhttp 8.1.0).
  if (phase_ != Phase::Body || framing_ != BodyFraming::ContentLength || errorStatus_ != 0 ||
      p.content_length >= contentLength_) {
    return 0;
  }
  return p.content_length;
}

ParseStatus MessageParser::skipBody(uint64_t n) {
  llhttp_t& p = llhttp_->parser;
  if (n == 0) {
    return ParseStatus::NeedMore;
  }
  if (n > skippableBodyBytes()) {
    return fail(type_ == Type::Request ? 400 : 502, "skipped past the body");
  }
  p.content_length -= n;
  if (p.content_length > 0) {
    return ParseStatus::NeedMore;
  }
  size_t used = 0;
  ParseStatus status = execute({}, used);
  if (status != ParseStatus::MessageComplete) {
    return fail(type_ == Type::Request ? 400 : 502, "body end not recognised after a skip");
  }
  return status;
}

void MessageParser::reset() {
  wipeCredentials();
  llhttp_reset(&llhttp_->parser);
  heldOws_.clear();
  startLineDone_ = false;
  phase_ = Phase::Head;
  headBytes_ = 0;
  scanner_.reset();
  errorStatus_ = 0;
  errorReason_.clear();
  framing_ = BodyFraming::None;
}

ParseStatus MessageParser::finish() {
  llhttp_t& p = llhttp_->parser;
  if (phase_ == Phase::Body && framing_ == BodyFraming::UntilClose) {
    llhttp_errno_t err = llhttp_finish(&p);
    if (err == HPE_OK || err == HPE_PAUSED) {
      phase_ = Phase::Done;
      return ParseStatus::MessageComplete;
    }
  }
  if (phase_ == Phase::Body) {
    return fail(type_ == Type::Request ? 400 : 502, "connection closed before the message ended");
  }
  return fail(type_ == Type::Request ? 400 : 502, "connection closed");
}

} // namespace gatehouse::http
