#pragma once
// One request forwarded to an upstream and its response relayed back: getting a connection
// (pooled, or DNS and connect), the retry rule, the request head and body encoders, the held
// response head, splicing and backpressure both ways. The connection hands a decided request
// to it and hears back through ExchangeEvents only (Envoy's router and UpstreamRequest split).
// It never closes the client: endings are the connection's.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/proxy/upstream_connector.h"

namespace gatehouse::proxy {

struct WorkerContext;
struct ParentRoute;

// The request as the connection reads it; the exchange only looks.
struct RequestFlow {
  const http::RequestHead* head = nullptr;
  const policy::RequestFacts* facts = nullptr;
  http::BodyFraming framing = http::BodyFraming::None;
  uint64_t contentLength = 0;
  bool isHead = false;
  bool webSocket = false;
  bool clientKeepAlive = true;
  int clientMinor = 1;
  bool requestComplete = false;
  bool requestChunked = false;
  bool expectContinue = false; // Expect: 100-continue, no body byte and no 100 seen yet
  std::string_view clientHost; // the client's address without port (forwarded_for)
};

// What the exchange tells its connection.
class ExchangeEvents {
public:
  virtual ~ExchangeEvents() = default;
  // Writes to the client; false when the write failed at once (the connection then ended).
  virtual bool exchangeWrite(std::initializer_list<std::string_view> buffers) = 0;
  // DNS is done (or was not needed); a connect begins. May come from inside start().
  virtual void onExchangeConnecting() = 0;
  // A reused upstream closed before answering: the request starts over on a new connection.
  virtual void onExchangeRetrying() = 0;
  // An upstream took the request head: request body bytes may flow now (a CONNECT sent to a
  // parent is complete at its head: bytes after it stay held until the tunnel opens).
  virtual void onExchangeSending() = 0;
  // CONNECT connected, or 101 relayed: the socket is the tunnel's now.
  virtual void onExchangeTunnel(uv::TcpStream* upstream, std::string_view toClient) = 0;
  // The response is complete (already written, or queued, to the client).
  virtual void onExchangeComplete() = 0;
  // The exchange failed; `responseStarted` says whether the client saw a response head.
  virtual void onExchangeFailed(errors::ProxyError error, errors::Phase phase, std::string detail,
                                std::string rcode, bool responseStarted) = 0;
  // The upstream's write queue drained: the client may be read again.
  virtual void onExchangeUpstreamDrained() = 0;
};

class ForwardExchange final : UpstreamEvents, ConnectorEvents {
public:
  ForwardExchange(WorkerContext& context, ExchangeEvents& events, uv::TcpStream& client,
                  ExchangeRecord& record, RequestFlow& request);
  ~ForwardExchange() override;
  ForwardExchange(const ForwardExchange&) = delete;
  ForwardExchange& operator=(const ForwardExchange&) = delete;

  // Gets an upstream for the request (pooled when allowed) and sends its head.
  void start();
  // A piece of request body (re-chunked when the request was chunked). False when the send
  // failed (the failure was reported).
  bool sendBody(std::string_view data);
  // The request is fully read: the last chunk (with trailers) goes, the response timers run.
  void finishRequest(const http::HeaderList& trailers);
  // Drops the upstream attempt or connection (the connection answers or closes itself).
  void cancel();
  // Ready for the next request on the connection: nothing in flight, no response state.
  void reset();
  // After a complete response: back to the pool when the request was complete, else closed.
  void release();
  // The client's write queue drained: read the upstream again.
  void onClientDrained();

  bool resolving() const { return connector_.resolving(); }
  void failDnsTimeout() { connector_.failDnsTimeout(); }
  bool upstreamAboveHighWatermark() const;
  bool responseStarted() const { return responseStarted_; }
  // The client can tell a cut response from a complete one (Content-Length or chunks).
  bool responseFramed() const { return responseFramed_; }
  bool closeAfter() const { return closeAfter_; }

private:
  void sendRequestHead();
  void sendParentConnect();
  // A 407 from the parent: never passed on as if it were ours.
  void failParentAuth(const http::ResponseHead& head);
  void flushHeldHead();
  bool sendUpstream(std::initializer_list<std::string_view> buffers);
  void fail(errors::ProxyError error, errors::Phase phase, std::string detail,
            std::string rcode = {});

  // ConnectorEvents
  void onConnectorReady(UpstreamConnection* upstream) override;
  void onConnectorFailed(const UpstreamFailure& failure) override;
  void onConnectorConnecting(const uv::SocketAddress& address) override;
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

  void releaseUpstream(bool reuse);

  WorkerContext& context_;
  ExchangeEvents& events_;
  uv::TcpStream& client_;
  ExchangeRecord& record_;
  RequestFlow& request_;
  UpstreamConnector connector_;
  UpstreamConnection* upstream_ = nullptr;
  http::HeaderList responseTrailers_;
  // A final response head held back until the body bytes of the same read can go with it in
  // one write (one syscall instead of two per response); flushed at the end of the read.
  std::string heldHead_;
  const ParentRoute* parent_ = nullptr; // the parent proxy this request goes through
  bool tunnelViaParent_ = false;        // a CONNECT sent on to the parent, not answered yet
  bool retried_ = false;
  bool responseStarted_ = false; // a final response head went to the client
  bool responseChunked_ = false; // re-framed as chunked for the client
  bool responseFramed_ = false;
  bool closeAfter_ = false;
};

} // namespace gatehouse::proxy
