#pragma once
// One request at a time on a client connection: each head the reader hands over goes through
// the request-policy chain (src/policy), then proceeds by a forward exchange or a tunnel, or is
// answered locally; each request ends with its record finished and the connection told whether
// to read the next one or drain. What a request holds lives in RequestState; what the cycle
// needs of the connection's lifecycle (its state machine, reading, the timer, the tunnel, the
// endings) it asks through the hooks below, which ClientConnection implements. The cycle
// never changes a state itself except through enterState().

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/connection_state.h"
#include "gatehouse/proxy/forward_exchange.h"
#include "gatehouse/proxy/local_answer.h"
#include "gatehouse/proxy/request_reader.h"
#include "gatehouse/proxy/request_state.h"

namespace gatehouse::uv {
class TcpStream;
} // namespace gatehouse::uv

namespace gatehouse::proxy {

struct WorkerContext;

// The request side of a client connection. Abstract: a connection (or a test's stand-in)
// derives from it and answers the hooks. It adds no allocation: its fields are the ones every
// connection has (context, stream, request state, auth memo, address, ids).
class RequestCycle : protected ReaderEvents, protected ExchangeEvents {
public:
  RequestCycle(WorkerContext& context, uv::TcpStream* client);
  RequestCycle(const RequestCycle&) = delete;
  RequestCycle& operator=(const RequestCycle&) = delete;

protected:
  ~RequestCycle() override;

  // ---- hooks: the connection's lifecycle, as the cycle needs it ----
  virtual ConnectionState connectionState() const = 0;
  // One edge of the connection's state machine (connection_state.h checks it).
  virtual void enterState(ConnectionState next) = 0;
  // Client reads follow the state (and backpressure); the timer follows the state.
  virtual void updateClientReading() = 0;
  virtual void armTimer() = 0;
  // The response is complete and the connection stays: read the next request.
  virtual void readNextRequest() = 0;
  // Request bytes kept while the exchange could not take them go on now.
  virtual void resumeReading() = 0;
  // The response is complete and the connection ends: our FIN, then a lingering close.
  virtual void beginDraining() = 0;
  virtual void closeNow(bool reset, ConnectionEnd reason) = 0;
  // The exchange's upstream socket becomes one side of a tunnel.
  virtual void beginTunnel(uv::TcpStream* upstream, std::string_view toClient) = 0;

  // ---- what the connection asks of the cycle ----
  // A record for a failure before any head was read (parse error, timeout, TLS, limit).
  void startBareRecord(uint64_t startMs);
  // Answers with the error's status and page (local_answer.h), then keeps the connection or
  // drains it.
  void respondError(ErrorAnswer answer);
  void respondError(errors::ProxyError error, errors::Phase phase, std::string detail);
  // Ends an exchange whose response already started: FIN where the framing shows the cut,
  // else a reset (local_answer.h decides).
  void abortExchange(errors::ProxyError error, errors::Phase phase, std::string detail);
  // respondError while no response byte went out, abortExchange after.
  void failExchange(errors::ProxyError error, errors::Phase phase, std::string detail);
  // Writes the record's access line (and diagnostic line for a failure), if there is a record.
  void finishRecord();
  // Writes to the client; a write that fails at once ends the exchange (libuv never calls
  // back for it). Returns false then.
  bool writeClient(std::initializer_list<std::string_view> buffers);

  RequestWork& work() { return requests_.work(*context_, *client_, *this, *this); }
  http::MessageParser& parser() { return work().reader.parser(); }
  RequestReader& reader() { return work().reader; }
  ForwardExchange& exchange() { return work().exchange; }
  ExchangeRecord& record() { return requests_.record(); }
  RequestFlow& flow() { return work().flow; }
  const RequestFlow& flow() const { return requests_.flow(); } // only while the work exists
  RequestDetail& requestDetail() { return work().request; }
  policy::RequestFacts& facts() { return work().request.facts; }
  bool isState(ConnectionState state) const { return connectionState() == state; }

  WorkerContext* context_; // moves to a reload's successor between requests
  uv::TcpStream* client_;
  // What a request in flight needs (request_state.h): allocated when its first byte arrives,
  // freed from the timer once the connection is idle again.
  RequestState requests_;
  // The Proxy-Authorization value last accepted on this connection (policy::AuthMemo).
  std::unique_ptr<policy::AuthMemo> authMemo_;
  std::string clientAddress_;  // "host:port" or "[v6]:port"
  uint64_t headStartedAt_ = 0; // accept time until the first request's first byte
  uint64_t id_;
  unsigned requestCount_ = 0;

private:
  std::string nextRequestId();
  void onPolicyVerdict(const policy::Verdict& verdict);
  void startUpstream();
  void finishExchange();
  void respondLocal(std::string response, int status, bool close);

  // ReaderEvents (the request codec)
  ReadMode readMode() const override;
  void onReaderHeadBegins() override;
  void onReaderHead(std::string_view sameRead) override;
  void onReaderBody(std::string_view data) override;
  void onReaderTrailers(const http::HeaderList& trailers) override;
  void onReaderRequestEnd() override;
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
};

} // namespace gatehouse::proxy
