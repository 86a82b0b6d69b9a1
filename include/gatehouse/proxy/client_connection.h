#pragma once
// One client connection and the requests on it, as an explicit state machine:
//
//   ReadingHead -> Resolving -> Connecting -> Forwarding -> ReadingHead (keep-alive)
//                                         \-> Tunneling (CONNECT, WebSocket 101)
//   any state -> Draining (final response queued) -> Closed
//
// Every transition goes through transition(); every ending records a reason and a phase.
// The object frees itself once its client stream and timer have both closed.

#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/tunnel.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/proxy/upstream_connector.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"
#include "gatehouse/uv/work.h"

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
  enum class State {
    ReadingHead, // waiting for, or receiving, a request head (idle keep-alive included)
    Authorizing, // checking credentials (reserved for proxy authentication)
    Resolving,   // looking up the upstream's name
    Connecting,  // TCP connect to the upstream
    Forwarding,  // request and response flowing through
    Tunneling,   // bytes both ways (CONNECT or an upgraded connection)
    Draining,    // a last response is queued; close once it is written
    Closed,      // handles closing; freed when they have
  };
  static const char* stateName(State state);

  // Takes ownership of an accepted stream and starts reading requests (over TLS for a client
  // of the HTTPS listener).
  static void start(WorkerContext& context, uv::TcpStream* stream, bool tls = false);
  // Closes at once (worker shutdown).
  void shutdown();

private:
  // Per-request bookkeeping, reset for each request on the connection.
  struct Exchange {
    std::string id;
    uint64_t startMs = 0;
    std::string method;
    std::string target;
    bool isConnect = false;
    bool isHead = false;
    bool webSocket = false;
    bool clientKeepAlive = true;
    int clientMinor = 1;
    bool requestComplete = false;
    bool requestChunked = false;
    bool responseStarted = false; // a final response head went to the client
    bool responseChunked = false;
    bool closeAfter = false;
    bool retried = false;
    int status = 0;
    uint64_t bytesIn = 0;
    uint64_t bytesOut = 0;
    std::string upstreamAddress;
    errors::ProxyError error = errors::ProxyError::None;
    errors::Phase phase = errors::Phase::ReadHead;
    std::string user; // the authenticated user, for the access log
  };
  // What only the request's own processing needs; lives in RequestWork, so an open tunnel
  // (which keeps its Exchange for the access line) does not carry it.
  struct RequestDetail {
    http::AbsoluteUri uri;     // absolute-form requests
    http::Authority authority; // destination (both forms)
    http::HeaderList requestTrailers;
    std::string accept;      // picks the error page format
    std::string claimedUser; // the user a refused request named, for the log line only
  };

  ClientConnection(WorkerContext& context, uv::TcpStream* stream);
  ~ClientConnection() override;

  void transition(State next);
  void armTimer();
  void processInput(std::string_view data);
  void onRequestHead();
  void authorize();
  void onAuthDecision(const auth::AuthDecision& decision);
  void continueRequest();
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
  // Writes a held-back response head, if any.
  void flushHeldHead();
  // Answers with the error's status and page. `publicDetail`, when given, replaces `detail`
  // in what the client sees (the log always has `detail`).
  void respondError(errors::ProxyError error, errors::Phase phase, std::string detail,
                    std::string rcode = {}, const http::HeaderList* extraFields = nullptr,
                    const char* publicDetail = nullptr);
  void abortExchange(errors::ProxyError error, errors::Phase phase, std::string detail);
  void logAccess();
  void beginDraining();
  void closeNow(bool reset);
  void releaseUpstream(bool reuse);
  void handleClosed();
  std::string nextRequestId();

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
  State state_ = State::ReadingHead;
  uint64_t id_;
  unsigned requestCount_ = 0;
  std::string clientAddress_; // "host:port" or "[v6]:port"
  // The address without port (the auth throttling key), cut from clientAddress_ rather than
  // kept as a second string: most connections never need it.
  std::string_view clientHost() const;
  // What a request in flight needs, allocated when its first byte arrives and freed (from the
  // timer, never inside a callback of what it owns) once the connection is idle again: an
  // idle keep-alive connection or an open tunnel holds no parser and no connector.
  struct RequestWork {
    RequestWork(WorkerContext& context, http::BodySink* sink, ConnectorEvents& events);
    http::MessageParser parser;
    UpstreamConnector connector;
    http::HeaderList responseTrailers;
    RequestDetail request;
    // A final response head held back until the body bytes of the same read can go with it
    // in one write (one syscall instead of two per response); flushed at the end of the read.
    std::string heldHead;
  };
  std::unique_ptr<RequestWork> work_;
  std::unique_ptr<Exchange> exchange_; // kept through a tunnel for its access line
  uint64_t releaseAt_ = 0;             // loop time at which to free idle request state; 0: none
  RequestWork& work();
  http::MessageParser& parser() { return work().parser; }
  UpstreamConnector& connector() { return work().connector; }
  Exchange& exchange();
  RequestDetail& requestDetail() { return work().request; }
  // Starts a new exchange: fresh log fields and request details.
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
  uint64_t headStartedAt_ = 0;
  uint64_t stateSince_ = 0;
  bool processing_ = false; // inside processInput(): nested calls must not consume pending_
  bool clientEof_ = false;
  bool discardInput_ = false; // drop the rest of the current read (after a refused CONNECT)
  uv::WorkRequestPtr authPending_;
  // The Proxy-Authorization value last accepted on this connection, so that keep-alive
  // requests repeating it skip decoding and hashing. Wiped when the connection closes.
  struct AuthMemo {
    std::string header;
    std::string user;
    uint64_t generation = 0;
    uint64_t expiresAt = 0;
  };
  std::unique_ptr<AuthMemo> authMemo_;
  UpstreamConnection* upstream_ = nullptr;
  std::unique_ptr<Tunnel> tunnel_;
};

} // namespace gatehouse::proxy
