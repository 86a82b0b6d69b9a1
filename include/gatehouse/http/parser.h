#pragma once
// The llhttp adapter. Callbacks only accumulate into a head (spans can split across reads);
// the owner acts after execute() returns. Strict checks the packaged llhttp 8.1.0 lacks run
// here too: the byte-level HeadScanner before llhttp, and framing rules after each head.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gatehouse/http/head_scanner.h"
#include "gatehouse/http/message.h"

namespace gatehouse::http {

// How a message's body is delimited, as received.
enum class BodyFraming { None, ContentLength, Chunked, UntilClose };

// Receives decoded body bytes and trailers while execute() runs. Must not destroy the parser.
class BodySink {
public:
  virtual ~BodySink() = default;
  virtual void onBodyData(std::string_view data) = 0;
  // Trailer fields of a chunked message, just before MessageComplete.
  virtual void onTrailers(const HeaderList& trailers) {}
};

// What execute() stopped at.
enum class ParseStatus {
  NeedMore,        // every byte was used; feed more
  HeadComplete,    // a head is ready in request()/response(); call execute() again to go on
  MessageComplete, // the message (head and body) ended; the next bytes start a new message
  Upgrade,         // the message ended and the rest of the stream is another protocol
  Error,           // see errorStatus()/errorReason(); the connection must close
};

struct ParserLimits {
  HeadScanner::Limits head;
  size_t maxTargetLength = 8 * 1024;
  size_t maxChunkExtension = 4 * 1024; // bytes of extensions per chunk
  uint64_t maxContentLength = uint64_t(1) << 50;
};

class MessageParser {
public:
  enum class Type { Request, Response };

  MessageParser(Type type, const ParserLimits& limits, BodySink* sink);
  ~MessageParser();
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  // Feeds bytes; `used` says how many were consumed before the returned stop.
  ParseStatus execute(std::string_view data, size_t& used);
  // Forgets the current message and any error: the next bytes start a new head (used after a
  // refused CONNECT, whose parser is otherwise left in tunnel mode).
  void reset();
  // The peer closed: completes an until-close body, or reports a truncated message.
  ParseStatus finish();

  const RequestHead& request() const { return request_; }
  RequestHead& request() { return request_; }
  const ResponseHead& response() const { return response_; }
  ResponseHead& response() { return response_; }

  // For responses, before continuing after HeadComplete: the request was HEAD, so no body.
  void setRequestWasHead(bool wasHead) { requestWasHead_ = wasHead; }
  BodyFraming framing() const { return framing_; }
  uint64_t contentLength() const { return contentLength_; }
  // Content-Length body bytes still to come that may bypass the parser (skipBody), or 0: not
  // in such a body, or no byte of it parsed yet (llhttp can only be finished from inside it).
  uint64_t skippableBodyBytes() const;
  // `n` (<= skippableBodyBytes()) body bytes went from the socket to their destination without
  // passing through here (splice). NeedMore, or MessageComplete when they were the last.
  ParseStatus skipBody(uint64_t n);
  // llhttp's persistent-connection verdict for the current message.
  bool keepAlive() const;
  // True between HeadComplete and MessageComplete.
  bool inBody() const { return phase_ == Phase::Body; }
  // True once some byte of a head has been seen for the current message.
  bool headStarted() const { return phase_ == Phase::Head && headBytes_ > 0; }

  int errorStatus() const { return errorStatus_; }
  const std::string& errorReason() const { return errorReason_; }

  struct Callbacks; // llhttp trampolines (parser.cc)

private:
  enum class Phase { Head, Body, Done };

  ParseStatus fail(int status, std::string reason);
  // Zeroes Proxy-Authorization values and the field scratch (new message, reset, destruction).
  void wipeCredentials();
  ParseStatus onHeadParsed();
  bool validateFraming();

  Type type_;
  ParserLimits limits_;
  BodySink* sink_;
  struct Llhttp;
  std::unique_ptr<Llhttp> llhttp_;
  HeadScanner scanner_;
  Phase phase_ = Phase::Head;
  size_t headBytes_ = 0;
  // RFC 9110 5.5: whitespace after a field value is not part of it, but llhttp's strict mode
  // refuses "chunked\t". Trailing SP/HTAB of field lines is removed before llhttp sees them;
  // a run at the end of a read waits here for the next one.
  std::string heldOws_;
  bool startLineDone_ = false;
  // The bytes of one read of a head as llhttp gets them (trailing field OWS removed).
  std::string_view withoutTrailingOws(std::string_view chunk, bool headComplete,
                                      std::string& scratch);

  RequestHead request_;
  ResponseHead response_;
  HeaderList trailers_;
  std::string fieldName_;
  std::string fieldValue_;
  bool requestWasHead_ = false;
  BodyFraming framing_ = BodyFraming::None;
  uint64_t contentLength_ = 0;
  size_t chunkExtensionBytes_ = 0;

  int errorStatus_ = 0;
  std::string errorReason_;
};

} // namespace gatehouse::http
