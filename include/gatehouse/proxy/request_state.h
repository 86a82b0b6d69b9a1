#pragma once
// The per-request state of one client connection, and when it exists: allocated when a
// request's first byte arrives, freed a little after the connection went idle (an idle
// keep-alive connection or an open tunnel then holds no parser and no connector), and dropped
// whole when the connection moves to a reload's successor context between requests. libuv's
// rule decides when: nothing is freed inside a callback of what it owns, so the connection
// calls releaseIfIdle() and clear() only from its timer or at the top of a client read.

#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/http/parser.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/connection_deadlines.h"
#include "gatehouse/proxy/connection_state.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/forward_exchange.h"
#include "gatehouse/proxy/request_reader.h"

namespace gatehouse::proxy {

struct WorkerContext;

// How long a connection stays idle before its per-request state is freed: long enough that a
// busy keep-alive connection (a request every few ms) never pays for freeing and reallocating
// it, short enough that a burst of new connections going idle leaves little freed memory
// between the ones that stay (250 ms cost 0.2 KiB of RSS per idle connection; 20 ms, none
// measurable, and no throughput change in bench/http_rps.sh).
inline constexpr uint64_t kReleaseIdleStateMs = 20;

// The largest request body (either framing) read and thrown away to keep a connection open
// after a refusal; a longer one closes the connection.
inline constexpr uint64_t kMaxDiscardBytes = 1024 * 1024;

// What only the request's own processing needs; lives in RequestWork, so an open tunnel
// (which keeps its record for the access line) does not carry it.
struct RequestDetail {
  policy::RequestFacts facts;
  http::HeaderList requestTrailers;
  std::string accept; // picks the error page format
};

// What a request in flight needs; the reader and the exchange call back into the connection.
struct RequestWork {
  RequestWork(WorkerContext& context, uv::TcpStream& client, ReaderEvents& readerEvents,
              ExchangeEvents& exchangeEvents, ExchangeRecord& record);
  // How the request proceeds (keep-alive, framing, Expect); declared before the exchange,
  // which refers to it. Here rather than in the connection: an idle one does not carry it.
  RequestFlow flow;
  RequestReader reader;
  policy::ClientIdentity identity; // address and host point into the connection's address
  RequestDetail request;
  std::unique_ptr<policy::PolicyRun> policyRun; // while the chain decides
  ForwardExchange exchange;                     // the way a decided request proceeds
  // The response-stall check's last look (connection_deadlines.h): what the client had taken
  // of the response then, and when (0: no look yet).
  uint64_t responseTakenSeen = 0;
  uint64_t responseLookedAt = 0;
};

// Holds one connection's RequestWork and the record; decides when they go and what a request
// answered locally leaves unread.
class RequestState {
public:
  // The request's work, allocated on first use. The record exists first and goes last: the
  // exchange keeps a reference to it (and to the flow).
  RequestWork& work(WorkerContext& context, uv::TcpStream& client, ReaderEvents& readerEvents,
                    ExchangeEvents& exchangeEvents);
  bool active() const { return work_ != nullptr; }
  ExchangeRecord& record();
  // The record, or null where none was begun or it was freed.
  ExchangeRecord* recordIfAny() { return record_.get(); }
  // The request's flow: only while the work exists (an idle connection has none).
  RequestFlow& flow();
  const RequestFlow& flow() const;
  // The head being read or just read, or null without request state.
  const http::RequestHead* head() const;

  // Starts a new exchange: fresh record, flow and request details (the forward exchange is
  // reset first, and a policy check still in flight cancelled). The objects stay where they
  // are: the exchange's references remain good.
  void resetExchange();
  // Drops the upstream attempt or connection, if any.
  void cancelUpstream();
  // The connection ends or drains: no upstream and no policy check any more.
  void stop();
  // Forgets the pipelined bytes kept (a draining connection never reads them).
  void dropKept();

  // True while a request head is partly received (false when no request state exists).
  bool headStarted() const { return work_ && work_->reader.parser().headStarted(); }
  bool hasKept() const { return work_ && work_->reader.hasKept(); }
  bool responseStarted() const { return work_ && work_->exchange.responseStarted(); }
  bool upstreamFull() const { return work_ && work_->exchange.upstreamAboveHighWatermark(); }
  // Waiting for a next request of which no byte has come (none kept, no head begun).
  bool betweenRequests(ConnectionState state) const;

  // What a request answered locally leaves unread (these need the work: false without it).
  // Completes a request without a body (no framing; never a CONNECT, whose "body" is the
  // tunnel) now: true when the whole request is in.
  bool finishBodyless();
  // Whether the connection may stay open after answering `error` itself: the client wants to
  // and the request is fully read, or, for a refusal that may throw a body away (keepRuleFor),
  // its body is read and dropped up to kMaxDiscardBytes as it comes.
  bool keepAfterAnswer(errors::ProxyError error);

  // Frees the state from the timer `kReleaseIdleStateMs` after `now`, if idle then: a busy
  // keep-alive connection keeps reusing it.
  void scheduleRelease(uint64_t now) { releaseAt_ = now + kReleaseIdleStateMs; }
  bool releaseDue(uint64_t now) const { return releaseAt_ != 0 && now >= releaseAt_; }
  // Between requests the work and the record go; in a tunnel only the work (the record
  // carries the tunnel's access line); otherwise nothing. Ends a scheduled release.
  void releaseIfIdle(ConnectionState state);
  // Frees the work and the record (the connection moves to a new context).
  void clear();

  // Fills in what the connection's deadlines read from the request (connection_deadlines.h);
  // reads clock.writeQueue, which the caller sets first.
  void fillClock(ConnectionClock& clock) const;
  // The response-stall check looked at `now` and saw the client had taken `taken` bytes.
  void responseLooked(uint64_t now, uint64_t taken);

private:
  // Declared before work_, so that it outlives the exchange that refers to it.
  std::unique_ptr<ExchangeRecord> record_; // kept through a tunnel for its access line
  std::unique_ptr<RequestWork> work_;
  uint64_t releaseAt_ = 0; // loop time at which to free idle request state; 0: none
};

} // namespace gatehouse::proxy
