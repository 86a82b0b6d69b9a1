#pragma once
// One client connection and the requests on it. It sequences states (connection_state.h:
// the allowed edges are written there once), feeds the request parser, hands each head to the
// request-policy chain (src/policy), then forwards through an upstream connection or opens a
// tunnel. Each request or tunnel has one ExchangeRecord; its finish() writes the log lines.
// The object frees itself once its client stream and timer have both closed. What it decides
// lives in parts with their own tests: RequestState (what a request holds, and when it goes),
// request_intake.h, local_answer.h, connection_deadlines.h, lingering_close.h.

#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/connection_deadlines.h"
#include "gatehouse/proxy/connection_state.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/forward_exchange.h"
#include "gatehouse/proxy/lingering_close.h"
#include "gatehouse/proxy/local_answer.h"
#include "gatehouse/proxy/request_reader.h"
#include "gatehouse/proxy/request_state.h"
#include "gatehouse/proxy/tunnel.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::auth {
struct AuthDecision;
} // namespace gatehouse::auth

namespace gatehouse::proxy {

struct WorkerContext;

class ClientConnection final : uv::StreamHandler,
                               uv::TimerHandler,
                               ReaderEvents,
                               ExchangeEvents,
                               TunnelEvents {
public:
  using State = ConnectionState;
  static const char* stateName(State state) { return connectionStateName(state); }

  // Takes ownership of an accepted stream and starts reading requests (over TLS for a client
  // of the HTTPS listener).
  static void start(WorkerContext& context, uv::TcpStream* stream, bool tls = false);
  // Closes at once (worker shutdown).
  void shutdown();
  // The worker drains (SIGTERM): an idle keep-alive connection closes now; one with a request
  // under way answers it with Connection: close and closes after it. Safe to call again.
  void drain();

private:
  template <class> friend class SlotTable; // keeps tableSlot_
  ClientConnection(WorkerContext& context, uv::TcpStream* stream);
  ~ClientConnection() override;

  void transition(State next);
  // After a SIGHUP: moves a connection that is between requests to the configuration now in
  // place (running requests and tunnels finish on the one they began with).
  void followReload();
  // The one timer follows connection_deadlines.h: clock() is what it looks at.
  ConnectionClock clock() const;
  void armTimer();
  void onRequestHead(std::string_view sameRead);
  void onPolicyVerdict(const policy::Verdict& verdict);
  void onRequestComplete();
  void startUpstream();
  void beginTunnel(uv::TcpStream* upstream, std::string_view toClient);
  void finishExchange();
  void nextRequest();
  void drainPending();
  void updateClientReading();
  void respondLocal(std::string response, int status, bool close);
  // Writes to the client; a write that fails at once ends the exchange (libuv never calls
  // back for it). Returns false then.
  bool writeClient(std::initializer_list<std::string_view> buffers);
  // Answers with the error's status and page (local_answer.h), then keeps the connection or
  // drains it.
  void respondError(ErrorAnswer answer);
  void respondError(errors::ProxyError error, errors::Phase phase, std::string detail);
  // Ends an exchange whose response already started: FIN where the framing shows the cut,
  // else a reset (local_answer.h decides).
  void abortExchange(errors::ProxyError error, errors::Phase phase, std::string detail);
  // respondError while no response byte went out, abortExchange after.
  void failExchange(errors::ProxyError error, errors::Phase phase, std::string detail);
  void finishRecord();
  void beginDraining();
  void closeNow(bool reset, ConnectionEnd reason);
  void handleClosed();
  std::string nextRequestId();
  // A record for a failure before any head was read (parse error, timeout, TLS).
  void startBareRecord(uint64_t startMs);

  // uv::StreamHandler (client stream)
  void onStreamRead(uv::TcpStream& stream, std::string_view data) override;
  void onStreamReadEnd(uv::TcpStream& stream, int status) override;
  void onStreamWriteError(uv::TcpStream& stream, int status) override;
  void onStreamDrained(uv::TcpStream& stream) override;
  void onStreamShutdown(uv::TcpStream& stream, int status) override;
  void onStreamClosed(uv::TcpStream& stream) override;
  void onStreamFilterFailed(uv::TcpStream& stream, uv::FilterStatus status,
                            const std::string& detail) override;
  // uv::TimerHandler
  void onTimer(uv::Timer& timer) override;
  void onTimerClosed(uv::Timer& timer) override;
  // ReaderEvents (the request codec)
  ReadMode readMode() const override;
  void onReaderHeadBegins() override;
  void onReaderHead(std::string_view sameRead) override { onRequestHead(sameRead); }
  void onReaderBody(std::string_view data) override;
  void onReaderTrailers(const http::HeaderList& trailers) override;
  void onReaderRequestEnd() override { onRequestComplete(); }
  void onReaderError(bool inBody) override;
  void onReaderDiscardOverflow() override;
  // ExchangeEvents
  bool exchangeWrite(std::initializer_list<std::string_view> buffers) override {
    return writeClient(buffers);
  }
  void onExchangeConnecting() override;
  void onExchangeRetrying() override;
  void onExchangeSending() override;
  void onExchangeTunnel(uv::TcpStream* upstream, std::string_view toClient) override;
  void onExchangeComplete() override;
  void onExchangeFailed(errors::ProxyError error, errors::Phase phase, std::string detail,
                        std::string rcode, bool responseStarted) override;
  void onExchangeUpstreamDrained() override;
  // TunnelEvents
  void onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) override;

  WorkerContext* context_; // moves to a reload's successor between requests
  uv::TcpStream* client_;
  uv::Timer* timer_;
  int openHandles_ = 2;
  ConnectionStateMachine machine_;
  bool clientEof_ = false; // beside the machine's two bytes: no padding of its own
  uint64_t id_;
  unsigned requestCount_ = 0;
  uint32_t tableSlot_ = 0;    // index in context_->connections (beside requestCount_: no padding)
  std::string clientAddress_; // "host:port" or "[v6]:port"
  // What a request in flight needs (request_state.h): allocated when its first byte arrives,
  // freed from the timer once the connection is idle again.
  RequestState requests_;
  RequestWork& work() { return requests_.work(*context_, *client_, *this, *this); }
  http::MessageParser& parser() { return work().reader.parser(); }
  RequestReader& reader() { return work().reader; }
  ForwardExchange& exchange() { return work().exchange; }
  ExchangeRecord& record() { return requests_.record(); }
  RequestFlow& flow() { return work().flow; }
  const RequestFlow& flow() const { return requests_.flow(); } // only while the work exists
  RequestDetail& requestDetail() { return work().request; }
  policy::RequestFacts& facts() { return work().request.facts; }
  void resetExchange() { requests_.resetExchange(); }
  bool headStarted() const { return requests_.headStarted(); }
  bool hasKept() const { return requests_.hasKept(); }
  bool responseStarted() const { return requests_.responseStarted(); }
  // Frees the per-request state a little later (from the timer) if the connection is idle
  // then; a busy keep-alive connection keeps reusing it.
  void scheduleRelease();
  uint64_t lastClientActivity_ = 0;
  uint64_t headStartedAt_ = 0; // accept time until the first request's first byte
  uint64_t stateSince_ = 0;
  LingeringClose lingering_; // Draining: our FIN's progress (lingering_close.h)
  // The Proxy-Authorization value last accepted on this connection (policy::AuthMemo).
  std::unique_ptr<policy::AuthMemo> authMemo_;
  std::unique_ptr<Tunnel> tunnel_;
};

} // namespace gatehouse::proxy
