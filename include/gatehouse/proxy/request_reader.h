#pragma once
// The client side's codec: feeds bytes to the request parser as the connection's state wants
// them (heads, a body to forward, the end of an upgrade request, or nothing yet), keeps what
// it cannot use now (pipelined requests; bounded, because the connection stops reading while
// anything is kept), and throws away a refused request's body up to a bound. It decides
// nothing: heads, body pieces, ends and errors go to ReaderEvents.

#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/http/parser.h"

namespace gatehouse::proxy {

// What the connection wants from the bytes now (asked for each step, never stored here).
enum class ReadMode : uint8_t {
  Heads,      // the next request head (and a refused request's body, thrown away)
  Body,       // the current request's body, for the upstream
  UpgradeEnd, // a WebSocket upgrade request: it ends at its head; what follows is the tunnel's
  Hold,       // nothing now: keep the bytes (waiting for a decision or an upstream)
  Stop,       // the connection is closing: drop them
};

// True when `data` can begin a valid chunk-size line (hex digits, then an extension, CRLF or
// nothing yet): the bytes that came with a chunked request head are checked before the head
// goes upstream, as Squid and Apache do.
bool plausibleChunkStart(std::string_view data);

class ReaderEvents {
public:
  virtual ~ReaderEvents() = default;
  virtual ReadMode readMode() const = 0;
  // A new request head's first bytes arrive (its timeout runs from here).
  virtual void onReaderHeadBegins() {}
  // A complete head; `sameRead` is what followed it in the bytes being fed.
  virtual void onReaderHead(std::string_view sameRead) = 0;
  virtual void onReaderBody(std::string_view data) = 0;
  virtual void onReaderTrailers(const http::HeaderList& trailers) {}
  // The request forwarded in Body or UpgradeEnd mode is complete.
  virtual void onReaderRequestEnd() = 0;
  // The parser failed (see parser().errorStatus()/errorReason()); `inBody` when past a head.
  virtual void onReaderError(bool inBody) = 0;
  // A refused request's body went past the bound: the connection closes.
  virtual void onReaderDiscardOverflow() = 0;
};

class RequestReader final : http::BodySink {
public:
  RequestReader(const http::ParserLimits& limits, ReaderEvents& events);

  http::MessageParser& parser() { return parser_; }
  const http::MessageParser& parser() const { return parser_; }

  // Feeds bytes read from the client.
  void feed(std::string_view data);
  // Feeds the kept bytes again, after the mode changed; nothing when called from inside feed()
  // (the outer feed goes on with the bytes it holds).
  void resumeKept();
  bool hasKept() const { return !kept_.empty(); }
  // Hands the kept bytes over (to a tunnel).
  std::string takeKept();
  bool feeding() const { return feeding_; }

  // Completes a bodiless request (no framing) now; true when it is complete.
  bool finishBodyless();
  // The request just refused is thrown away: a CONNECT's following bytes are never read as
  // HTTP (the rest of the read being fed and anything kept are dropped); a body is read and
  // discarded in Heads mode up to `limit` bytes. False when the connection cannot be kept
  // (a body too long, or unframed).
  bool discardRefused(bool isConnect, uint64_t limit);

private:
  void keep(std::string_view data);
  void onBodyData(std::string_view data) override;
  void onTrailers(const http::HeaderList& trailers) override;

  ReaderEvents& events_;
  http::MessageParser parser_;
  std::string kept_;
  uint64_t discardLeft_ = 0; // body bytes of a refused request still allowed
  bool feeding_ = false;     // inside feed(): nested calls must not consume kept_
  bool dropRest_ = false;    // drop the rest of the bytes being fed (set only inside feed())
};

} // namespace gatehouse::proxy
