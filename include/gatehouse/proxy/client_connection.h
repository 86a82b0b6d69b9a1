#pragma once
// One client connection and the requests on it. It sequences states (connection_state.h:
// the allowed edges are written there once), feeds the request parser, hands each head to the
// request-policy chain (src/policy), then forwards through an upstream connection or opens a
// tunnel. Each request or tunnel has one ExchangeRecord; its finish() writes the log lines.
// The object frees itself once its client stream and timer have both closed.

#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/connection_state.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/tunnel.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/proxy/upstream_connector.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::auth {
struct AuthDecision;
} // namespace gatehouse::auth

namespace gatehouse::proxy {

struct WorkerContext;

class ClientConnection final : uv::StreamHandler,
                               uv::TimerHandler,
                               http::BodySink,
                               UpstreamEvents,
                               ConnectorEvents,
                               TunnelEvents {
public:
  using State = ConnectionState;
  static const char* stateName(State state) { return connectionStateName(state); }

  // Takes ownership of an accepted stream and starts reading requests (over TLS for a client
  // of the HTTPS listener).
  static void start(WorkerContext& context, uv::TcpStream* stream, bool tls = false);
  // Closes at once (worker shutdown).
  void shutdown();

private:
  // How the current request and its response flow: per request, reset with the record.
  struct Flow {
    bool isHead = false;
    bool webSocket = false;
    bool clientKeepAlive = true;
    int clientMinor = 1;
    bool requestComplete = false;
    bool requestChunked = false;
    bool expectContinue = false;  // Expect: 100-continue, no body byte and no 100 seen yet
    bool responseStarted = false; // a final response head went to the client
    bool responseChunked = false; // re-framed as chunked for the client
    bool responseFramed = false;  // the client can tell a cut response (length or chunks)
    bool closeAfter = false;
    bool retried = false;
  };
  // What only the request's own processing needs; lives in RequestWork, so an open tunnel
  // (which keeps its record for the access line) does not carry it.
  struct RequestDetail {
    policy::RequestFacts facts;
    http::HeaderList requestTrailers;
    std::string accept; // picks the error page format
  };

  ClientConnection(WorkerContext& context, uv::TcpStream* stream);
  ~ClientConnection() override;

  void transition(State next);
  void armTimer();
  void processInput(std::string_view data);
  void onRequestHead(std::string_view sameRead);
  void onPolicyVerdict(const policy::Verdict& verdict);
  bool discardRequest();
  void onRequestComplete();
  void startUpstream();
  void sendRequestHead();
  void beginTunnel(std::string_view toClient);
  void finishExchange();
  void nextRequest();
  void drainPending();
  void stash(std::string_view data);
  void updateClientReading();
  bool finishBodylessRequest();
  void respondLocal(std::string response, int status, bool close);
  // Writes to the client; a write that fails at once ends the exchange (libuv never calls
  // back for it). Returns false then.
  bool writeClient(std::initializer_list<std::string_view> buffers);
  // Writes a held-back response head, if any.
  void flushHeldHead();
  // Answers with the error's status and page. `publicDetail`, when given, replaces `detail`
  // in what the client sees (the log always has `detail`).
  void respondError(errors::ProxyError error, errors::Phase phase, std::string detail,
                    std::string rcode = {}, const http::HeaderList* extraFields = nullptr,
                    const std::string* publicDetail = nullptr);
  // Ends an exchange whose response already started: FIN where the framing shows the cut,
  // else a reset.
  void abortExchange(errors::ProxyError error, errors::Phase phase, std::string detail);
  void finishRecord();
  void beginDraining();
  void closeNow(bool reset, ConnectionEnd reason);
  void releaseUpstream(bool reuse);
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
  void onStreamTlsFailed(uv::TcpStream& stream, tls::Status status,
                         const std::string& detail) override;
  // uv::TimerHandler
  void onTimer(uv::Timer& timer) override;
  void onTimerClosed(uv::Timer& timer) override;
  // http::BodySink (request body)
  void onBodyData(std::string_view data) override;
  void onTrailers(const http::HeaderList& trailers) override;
  // UpstreamEvents
  void onUpstreamConnected(UpstreamConnection& upstream) override {}
  void onUpstreamFailed(UpstreamConnection& upstream, const UpstreamFailure& failure) override;
  void onUpstreamResponseHead(UpstreamConnection& upstream, const http::ResponseHead& head,
                              std::string_view rest) override;
  void onUpstreamBody(UpstreamConnection& upstream, std::string_view data) override;
  void onUpstreamTrailers(UpstreamConnection& upstream, const http::HeaderList& trailers) override;
  void onUpstreamResponseComplete(UpstreamConnection& upstream) override;
  void onUpstreamDrained(UpstreamConnection& upstream) override;
  void onUpstreamReadProcessed(UpstreamConnection& upstream) override;
  void onUpstreamBodySpliced(UpstreamConnection& upstream, uint64_t bytes) override;
  // ConnectorEvents
  void onConnectorReady(UpstreamConnection* upstream) override;
  void onConnectorFailed(const UpstreamFailure& failure) override;
  void onConnectorConnecting(const uv::SocketAddress& address) override;
  // TunnelEvents
  void onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) override;

  WorkerContext& context_;
  uv::TcpStream* client_;
  uv::Timer* timer_;
  int openHandles_ = 2;
  ConnectionStateMachine machine_;
  uint64_t id_;
  unsigned requestCount_ = 0;
  policy::ClientIdentity identity_; // address and host point into clientAddress_
  std::string clientAddress_;       // "host:port" or "[v6]:port"
  // What a request in flight needs, allocated when its first byte arrives and freed (from the
  // timer, never inside a callback of what it owns) once the connection is idle again: an
  // idle keep-alive connection or an open tunnel holds no parser and no connector.
  struct RequestWork {
    RequestWork(WorkerContext& context, http::BodySink* sink, ConnectorEvents& events);
    http::MessageParser parser;
    UpstreamConnector connector;
    http::HeaderList responseTrailers;
    RequestDetail request;
    std::unique_ptr<policy::PolicyRun> policyRun; // while the chain decides
    // A final response head held back until the body bytes of the same read can go with it
    // in one write (one syscall instead of two per response); flushed at the end of the read.
    std::string heldHead;
  };
  std::unique_ptr<RequestWork> work_;
  std::unique_ptr<ExchangeRecord> record_; // kept through a tunnel for its access line
  Flow flow_;
  uint64_t releaseAt_ = 0; // loop time at which to free idle request state; 0: none
  RequestWork& work();
  http::MessageParser& parser() { return work().parser; }
  UpstreamConnector& connector() { return work().connector; }
  ExchangeRecord& record();
  RequestDetail& requestDetail() { return work().request; }
  policy::RequestFacts& facts() { return work().request.facts; }
  // Starts a new exchange: fresh record, flow and request details.
  void resetExchange();
  // True while a request head is partly received (false when no request state exists).
  bool headStarted() const { return work_ && work_->parser.headStarted(); }
  void cancelUpstreamAttempt();
  // Frees the per-request state a little later (from the timer) if the connection is idle
  // then; a busy keep-alive connection keeps reusing it.
  void scheduleRelease();
  void releaseIfIdle();
  std::string pending_; // client bytes read but not yet consumed (kept only while needed)
  uint64_t lastClientActivity_ = 0;
  uint64_t headStartedAt_ = 0; // accept time until the first request's first byte
  uint64_t stateSince_ = 0;
  uint64_t discardLeft_ = 0;    // body bytes of a refused request still to throw away
  uint64_t drainQueueSeen_ = 0; // Draining: write queue size at the last timer (progress)
  bool shutdownDone_ = false;   // Draining: our FIN is out; the linger clock runs from here
  bool processing_ = false;     // inside processInput(): nested calls must not consume pending_
  bool clientEof_ = false;
  bool discardInput_ = false; // drop the rest of the current read (after a refused CONNECT)
  // The Proxy-Authorization value last accepted on this connection (policy::AuthMemo).
  std::unique_ptr<policy::AuthMemo> authMemo_;
  UpstreamConnection* upstream_ = nullptr;
  std::unique_ptr<Tunnel> tunnel_;
};

} // namespace gatehouse::proxy
