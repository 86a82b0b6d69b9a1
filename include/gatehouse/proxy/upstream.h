#pragma once
// A connection to an upstream server: connect, send a request, parse its response, and go back
// to the per-destination idle pool for reuse. Freed only in the close callbacks of its stream
// and timer; whoever holds it calls close() or release() and forgets it.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/socket_address.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::proxy {

struct WorkerContext;
class UpstreamConnection;

// Why an upstream connection failed, for the mapping table and the log line.
struct UpstreamFailure {
  errors::ProxyError error = errors::ProxyError::Internal;
  errors::Phase phase = errors::Phase::Connect;
  std::string detail; // libuv error name or parser reason
};

// The table row for a failed TCP connect (a negative libuv/errno status): refused, timed out,
// unreachable, or any other failure.
errors::ProxyError connectErrorFor(int status);

// Receives one upstream connection's events. After any call the connection may have been
// closed or released by the receiver; the connection checks before going on.
class UpstreamEvents {
public:
  virtual ~UpstreamEvents() = default;
  virtual void onUpstreamConnected(UpstreamConnection& upstream) = 0;
  virtual void onUpstreamFailed(UpstreamConnection& upstream, const UpstreamFailure& failure) = 0;
  // A response head (1xx included). For 101, `rest` holds bytes after the head.
  virtual void onUpstreamResponseHead(UpstreamConnection& upstream, const http::ResponseHead& head,
                                      std::string_view rest) {}
  virtual void onUpstreamBody(UpstreamConnection& upstream, std::string_view data) {}
  virtual void onUpstreamTrailers(UpstreamConnection& upstream, const http::HeaderList& trailers) {}
  virtual void onUpstreamResponseComplete(UpstreamConnection& upstream) {}
  // The request write queue fell below the low watermark after notifyWhenDrained().
  virtual void onUpstreamDrained(UpstreamConnection& upstream) {}
  // Every event of one read has been delivered (a place to flush what was held back).
  virtual void onUpstreamReadProcessed(UpstreamConnection& upstream) {}
  // `bytes` of body went straight to the client's socket (spliceBodyTo), before any
  // onUpstreamResponseComplete they lead to.
  virtual void onUpstreamBodySpliced(UpstreamConnection& upstream, uint64_t bytes) {}
};

class UpstreamConnection final : uv::StreamHandler, uv::TimerHandler, http::BodySink {
public:
  // Starts connecting to `address`; events arrive on `events`. Never reports synchronously.
  // With `tlsContext`, TLS runs over the connection (SNI and certificate check for `tlsHost`).
  static UpstreamConnection* connect(WorkerContext& context, const uv::SocketAddress& address,
                                     std::string poolKey, UpstreamEvents* events,
                                     tls::ContextPtr tlsContext = nullptr,
                                     std::string tlsHost = {});

  void setEvents(UpstreamEvents* events) { events_ = events; }
  const uv::SocketAddress& address() const { return address_; }
  // The address as text ("127.0.0.1:80"), formatted once: logs use it on every request.
  const std::string& addressText() const { return addressText_; }
  const std::string& poolKey() const { return poolKey_; }
  bool wasReused() const { return exchanges_ > 1; }
  bool receivedResponseBytes() const { return responseBytes_ > 0; }

  // Starts an exchange on a connected, idle connection.
  // With `tunnelRequest` (a CONNECT sent to a parent proxy) a 2xx head ends the HTTP part:
  // what follows is handed over unparsed, as after a 101.
  void beginExchange(bool requestIsHead, bool tunnelRequest = false);
  // Sends request bytes (head, body pieces); 0 or a negative libuv error.
  int send(std::initializer_list<std::string_view> buffers);
  // The whole request was sent: the response timers start.
  void requestSent();
  bool aboveHighWatermark() const;
  void notifyWhenDrained();
  void pauseReading();
  void resumeReading();
  // Moves the Content-Length body bytes waiting in the socket to `client` with splice(2)
  // (both plain TCP, `client` with nothing queued, `splice` on), then goes on as if they had
  // been read; when `client` cannot take them that way, stops splicing.
  void spliceBodyTo(uv::TcpStream& client);
  // The rest of this response is copied: reads go back to full size.
  void stopSplicing();
  // Framing of the current response (valid after its head).
  http::BodyFraming responseFraming() const { return parser_.framing(); }
  uint64_t responseContentLength() const { return parser_.contentLength(); }

  // After a complete response: back to the pool if it can be reused, else closed.
  void release();
  // Hands the socket to a tunnel; this object then closes its timer and frees itself.
  uv::TcpStream* detachStream();
  void close();

private:
  enum class State { Connecting, Ready, WaitingHead, ReadingBody, Idle, Closed };

  UpstreamConnection(WorkerContext& context, const uv::SocketAddress& address, std::string key,
                     UpstreamEvents* events);
  ~UpstreamConnection() override = default;

  void fail(errors::ProxyError error, errors::Phase phase, std::string detail);
  void feed(std::string_view data);
  void armWaitTimer();
  void handleClosed();
  bool reusable() const;

  void onStreamRead(uv::TcpStream& stream, std::string_view data) override;
  void onStreamReadEnd(uv::TcpStream& stream, int status) override;
  void onStreamConnected(uv::TcpStream& stream, int status) override;
  void onStreamWriteError(uv::TcpStream& stream, int status) override;
  void onStreamDrained(uv::TcpStream& stream) override;
  void onStreamClosed(uv::TcpStream& stream) override;
  void onStreamFilterFailed(uv::TcpStream& stream, uv::FilterStatus status,
                            const std::string& detail) override;
  void onTimer(uv::Timer& timer) override;
  void onTimerClosed(uv::Timer& timer) override;
  void onBodyData(std::string_view data) override;
  void onTrailers(const http::HeaderList& trailers) override;

  WorkerContext& context_;
  uv::SocketAddress address_;
  std::string addressText_;
  std::string poolKey_;
  UpstreamEvents* events_;
  tls::ContextPtr tlsContext_;
  std::string tlsHost_;
  uv::TcpStream* stream_;
  uv::Timer* timer_;
  int openHandles_ = 2;
  State state_ = State::Connecting;
  http::MessageParser parser_;
  int connectError_ = 0; // a synchronous connect failure, reported from the timer
  uint64_t requestSentAt_ = 0;
  uint64_t lastReadAt_ = 0;
  uint64_t responseBytes_ = 0;
  unsigned exchanges_ = 0;
  bool readPaused_ = false;
  bool leftoverBytes_ = false; // bytes after a complete response: not reusable
  bool responseDone_ = false;
  bool tunnelRequest_ = false;
};

// Idle upstream connections per destination ("host:port"), most recently used first.
class UpstreamPool {
public:
  static constexpr size_t kMaxIdlePerKey = 128;

  // An idle connection to `key`, or nullptr.
  UpstreamConnection* take(const std::string& key);
  // Keeps an idle connection; false when the pool for that key is full.
  bool put(UpstreamConnection* connection);
  void remove(UpstreamConnection* connection);
  // Closes every idle connection (shutdown).
  void closeAll();

private:
  std::unordered_map<std::string, std::vector<UpstreamConnection*>> idle_;
};

} // namespace gatehouse::proxy
