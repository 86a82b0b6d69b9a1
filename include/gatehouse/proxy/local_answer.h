#pragma once
// How a client connection ends an exchange itself, decided without a socket: the error page
// it writes and what the exchange record says, whether the connection may stay open after
// the answer, and whether a response already under way is cut with a FIN or a reset. The
// connection only does what these say (write, drain or close), so each choice has a unit test.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/message.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/exchange_record.h"

namespace gatehouse::proxy {

// What a refused request must have left unread for the connection to stay open after the
// answer. The client has to be fully read (or its body thrown away), else the next request
// would start in the middle of this one's body.
enum class KeepRule : uint8_t {
  BodylessOnly, // only a request without a body (CONNECT never: its "body" is the tunnel)
  DiscardBody,  // a body is read and thrown away (up to a limit) to keep the connection
};
// An authentication refusal is answered on the same connection the client retries on, so its
// body is worth throwing away; any other refusal keeps the connection only without a body.
KeepRule keepRuleFor(errors::ProxyError error);

// The error that answers a request head the parser refused, from the parser's status (431,
// 414, 501, 505; anything else is a plain 400 BadRequest).
errors::ProxyError errorForParseStatus(int status);

// An error the connection answers itself, as the code that found it describes it.
struct ErrorAnswer {
  ErrorAnswer(errors::ProxyError e, errors::Phase p, std::string d)
      : error(e), phase(p), detail(std::move(d)) {}
  errors::ProxyError error;
  errors::Phase phase;
  std::string detail;       // for the log (and the client, unless publicDetail is set)
  std::string publicDetail; // replaces `detail` in what the client sees, when not empty
  std::string rcode;        // DNS rcode, for dns_error
  http::HeaderList fields;  // e.g. Proxy-Authenticate, Retry-After
};

// What the connection knows about where the answer goes.
struct AnswerContext {
  errors::StatusMode statusMode = errors::StatusMode::Proxy;
  std::string_view pseudonym;
  std::string target;      // host:port the client asked for, or empty
  std::string_view accept; // the request's Accept field: picks the page format
  uint64_t nowMs = 0;      // loop time, for the page's "after" and the record
};

// Where an answer to a request for `authority` goes ("" for a target when none was read).
AnswerContext answerContextFor(errors::StatusMode statusMode, std::string_view pseudonym,
                               const http::Authority& authority, std::string_view accept,
                               uint64_t nowMs);

// Records the failure on `record` (status, error, phase, cause, detail) and renders the error
// page with its Proxy-Status (the parent's members first), X-Request-Id, the Allow a 405
// needs, and Connection: close when `close`. The page's request id, next hop and elapsed time
// come from the record.
std::string answerError(ExchangeRecord& record, ErrorAnswer answer, const AnswerContext& context,
                        bool close);

// How a connection ends after cutting an exchange short.
enum class CutEnding : uint8_t {
  Fin,   // the response's framing shows the client the cut: keep what it already has
  Reset, // nothing else can show it (a close-delimited body), or the client left anyway
};
// Records an exchange cut short: a client that left is status 499, any other cut marks the
// response aborted. Never fakes an end: a FIN only where the response began and its framing
// (a Content-Length not reached, chunks without the last one) lets the client see the cut.
CutEnding cutExchange(ExchangeRecord& record, errors::ProxyError error, errors::Phase phase,
                      std::string detail, bool responseStarted, bool responseFramed);

// Records a write to the client that failed at once (libuv never calls back for it): the
// client is gone, status 499 unless a response status was already set.
void recordClientWriteFailure(ExchangeRecord& record, int status);

} // namespace gatehouse::proxy
