#include "gatehouse/proxy/upstream.h"

#include <algorithm>
#include <cerrno>

#include "gatehouse/http/header_rules.h"
#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;

namespace {
// The read size while a response head is awaited: small, so that a body following it stays
// in the socket for spliceBodyTo() instead of being copied in with the head.
constexpr size_t kHeadReadLimit = 4 * 1024;
// A splice that moved this much in one go keeps reads small: the body is streaming in bulk.
constexpr uint64_t kBulkSpliceBytes = 64 * 1024;
} // namespace

// libuv reports -errno on Unix; the connect errors that have their own row in the table.
ProxyError connectErrorFor(int status) {
  switch (-status) {
  case ECONNREFUSED:
    return ProxyError::ConnectRefused;
  case ETIMEDOUT:
    return ProxyError::ConnectTimeout;
  case ENETUNREACH:
  case EHOSTUNREACH:
  case ENETDOWN:
  case EHOSTDOWN:
  case EADDRNOTAVAIL:
  case EAFNOSUPPORT:
    return ProxyError::DestinationUnreachable;
  default:
    return ProxyError::ConnectFailed;
  }
}

UpstreamConnection::UpstreamConnection(WorkerContext& context, const uv::SocketAddress& address,
                                       std::string key, UpstreamEvents* events)
    : context_(context), address_(address), addressText_(address.toString()),
      poolKey_(std::move(key)), events_(events), stream_(uv::TcpStream::create(context.loop)),
      timer_(uv::Timer::create(context.loop, this)),
      parser_(http::MessageParser::Type::Response, context.responseLimits, this) {
  stream_->setHandler(this);
}

UpstreamConnection* UpstreamConnection::connect(WorkerContext& context,
                                                const uv::SocketAddress& address,
                                                std::string poolKey, UpstreamEvents* events,
                                                tls::ContextPtr tlsContext, std::string tlsHost) {
  auto* conn = new UpstreamConnection(context, address, std::move(poolKey), events);
  conn->tlsContext_ = std::move(tlsContext);
  conn->tlsHost_ = std::move(tlsHost);
  context.counters.upstreamConnectsOpened.fetch_add(1, std::memory_order_relaxed);
  int rc = conn->stream_->connect(address);
  if (rc != 0) {
    // Reported from the timer so the caller never sees a callback inside this call.
    conn->connectError_ = rc;
    conn->timer_->start(0);
  } else {
    conn->timer_->start(context.config.connectTimeoutMs);
  }
  return conn;
}

void UpstreamConnection::beginExchange(bool requestIsHead, bool tunnelRequest) {
  state_ = State::Ready;
  tunnelRequest_ = tunnelRequest;
  parser_.setRequestWasHead(requestIsHead);
  responseDone_ = false;
  responseBytes_ = 0;
  requestSentAt_ = 0;
  leftoverBytes_ = false;
  ++exchanges_;
  if (exchanges_ > 1) {
    context_.counters.upstreamReuses.fetch_add(1, std::memory_order_relaxed);
  }
  timer_->stop();
  if (stream_ != nullptr) {
    stream_->setReadLimit(context_.config.splice && !tlsContext_ ? kHeadReadLimit : 0);
  }
  resumeReading();
}

void UpstreamConnection::spliceBodyTo(uv::TcpStream& client) {
  if (!context_.config.splice || !client.canReceiveSplice()) {
    stopSplicing(); // a TLS client, or bytes already queued for it: copy the rest
    return;
  }
  if (state_ != State::ReadingBody || stream_ == nullptr || events_ == nullptr) {
    return;
  }
  uint64_t left = parser_.skippableBodyBytes();
  if (left == 0) {
    return;
  }
  uv::SpliceResult result = stream_->spliceTo(client, left);
  if (result.moved > 0) {
    responseBytes_ += result.moved;
    lastReadAt_ = context_.loop.now();
    events_->onUpstreamBodySpliced(*this, result.moved);
    if (state_ == State::Closed || events_ == nullptr || stream_ == nullptr) {
      return;
    }
    http::ParseStatus status = parser_.skipBody(result.moved);
    if (status == http::ParseStatus::MessageComplete) {
      responseDone_ = true;
      leftoverBytes_ = false;
      timer_->stop();
      events_->onUpstreamResponseComplete(*this);
      return;
    }
    if (status == http::ParseStatus::Error) {
      fail(ProxyError::UpstreamProtocolError, Phase::ReadBody, parser_.errorReason());
      return;
    }
  }
  if (result.readError != 0) {
    fail(ProxyError::UpstreamBodyAborted, Phase::ReadBody, uv::errorName(result.readError));
    return;
  }
  // Small reads pay only while the body streams in bulk and the client keeps up; otherwise
  // the rest is read (and copied) in big pieces.
  const bool bulk = result.moved >= kBulkSpliceBytes && client.writeQueueSize() == 0;
  stream_->setReadLimit(bulk ? kHeadReadLimit : 0);
}

void UpstreamConnection::stopSplicing() {
  if (stream_ != nullptr) {
    stream_->setReadLimit(0);
  }
}

// Request bytes; a write that fails later surfaces through onStreamWriteError (a Send-phase
// failure before the response head, an aborted body after it).
int UpstreamConnection::send(std::initializer_list<std::string_view> buffers) {
  if (stream_ == nullptr || state_ == State::Closed) {
    return -ECANCELED;
  }
  return stream_->write(buffers);
}

void UpstreamConnection::requestSent() {
  if (state_ != State::Ready) {
    return; // a response already started (an early answer) or the connection failed
  }
  state_ = State::WaitingHead;
  requestSentAt_ = context_.loop.now();
  lastReadAt_ = requestSentAt_;
  armWaitTimer();
}

// One timer, two deadlines: no byte for read_timeout (both while waiting and while reading a
// body), and, until the head is complete, the whole head within response_timeout (so an
// upstream trickling a byte at a time cannot hold a request forever).
void UpstreamConnection::armWaitTimer() {
  const auto& config = context_.config;
  uint64_t now = context_.loop.now();
  uint64_t readDeadline = lastReadAt_ + config.readTimeoutMs;
  uint64_t deadline = readDeadline;
  if (state_ == State::WaitingHead) {
    deadline = std::min(deadline, requestSentAt_ + config.responseTimeoutMs);
  }
  timer_->start(deadline > now ? deadline - now : 0);
}

bool UpstreamConnection::aboveHighWatermark() const {
  return stream_ != nullptr && stream_->aboveHighWatermark();
}

void UpstreamConnection::notifyWhenDrained() {
  if (stream_ != nullptr) {
    stream_->notifyWhenDrained();
  }
}

// Backpressure from the client side: the kernel's receive window then slows the upstream.
void UpstreamConnection::pauseReading() {
  if (stream_ != nullptr && !readPaused_) {
    readPaused_ = true;
    stream_->stopRead();
  }
}

void UpstreamConnection::resumeReading() {
  if (stream_ == nullptr || state_ == State::Closed) {
    return;
  }
  if (readPaused_) {
    readPaused_ = false;
    lastReadAt_ = context_.loop.now(); // time spent paused is the client's, not the upstream's
  }
  stream_->startRead();
}

bool UpstreamConnection::reusable() const {
  const http::ResponseHead& head = parser_.response();
  // Reading may be paused (the client was slow to take the body's end): release() resumes it.
  // A connection that carried a CONNECT a parent refused is not pooled: it was opened for a
  // tunnel, and a pooled parent connection is keyed like an origin's.
  return responseDone_ && !leftoverBytes_ && !tunnelRequest_ && parser_.keepAlive() &&
         !http::wantsClose(head.headers, head.versionMinor) &&
         parser_.framing() != http::BodyFraming::UntilClose;
}

void UpstreamConnection::release() {
  if (state_ == State::Closed) {
    return;
  }
  events_ = nullptr;
  if (reusable() && !context_.stopping && context_.pool.put(this)) {
    state_ = State::Idle;
    resumeReading(); // to notice the upstream closing while idle
    timer_->start(context_.config.idleTimeoutMs);
    return;
  }
  close();
}

uv::TcpStream* UpstreamConnection::detachStream() {
  uv::TcpStream* stream = stream_;
  if (stream != nullptr) {
    stream->stopRead();
    stream->setReadLimit(0); // a tunnel reads in full
    stream->setHandler(nullptr);
    stream_ = nullptr;
    --openHandles_;
  }
  close();
  return stream;
}

void UpstreamConnection::close() {
  if (state_ == State::Closed) {
    return;
  }
  if (state_ == State::Idle) {
    context_.pool.remove(this);
  }
  state_ = State::Closed;
  events_ = nullptr;
  if (stream_ != nullptr) {
    stream_->close();
  }
  timer_->close();
}

void UpstreamConnection::handleClosed() {
  if (--openHandles_ == 0) {
    delete this;
  }
}

void UpstreamConnection::fail(ProxyError error, Phase phase, std::string detail) {
  if (state_ == State::Closed) {
    return;
  }
  UpstreamEvents* events = events_;
  UpstreamFailure failure{error, phase, std::move(detail)};
  if (stream_ != nullptr) {
    stream_->stopRead();
  }
  timer_->stop();
  if (events != nullptr) {
    events->onUpstreamFailed(*this, failure);
  }
  close(); // a failed connection is never reused, whatever the receiver did
}

void UpstreamConnection::feed(std::string_view data) {
  while (state_ != State::Closed && events_ != nullptr) {
    size_t used = 0;
    http::ParseStatus status = parser_.execute(data, used);
    data.remove_prefix(used);
    if (state_ == State::Closed || events_ == nullptr) {
      // The receiver ended the exchange from a body callback inside execute() (a client write
      // that failed at once closes the client connection and this one): the parser may have
      // gone on to the message's end, but nobody is left to tell.
      return;
    }
    const http::ResponseHead& head = parser_.response();
    const bool interim = head.status >= 100 && head.status < 200;
    switch (status) {
    case http::ParseStatus::NeedMore:
      return;
    case http::ParseStatus::HeadComplete:
      if (head.status == 101 || (tunnelRequest_ && head.status >= 200 && head.status < 300)) {
        // The rest of the stream is the upgraded protocol: hand it over unparsed.
        stream_->stopRead();
        timer_->stop();
        state_ = State::ReadingBody;
        events_->onUpstreamResponseHead(*this, head, data);
        return;
      }
      if (!interim) {
        state_ = State::ReadingBody;
        lastReadAt_ = context_.loop.now();
        armWaitTimer();
        if (parser_.framing() != http::BodyFraming::ContentLength) {
          stream_->setReadLimit(0); // only Content-Length bodies are spliced
        }
      }
      events_->onUpstreamResponseHead(*this, head, {});
      continue;
    case http::ParseStatus::MessageComplete:
    case http::ParseStatus::Upgrade:
      if (interim && status == http::ParseStatus::MessageComplete) {
        continue;
      }
      responseDone_ = true;
      leftoverBytes_ = !data.empty() || status == http::ParseStatus::Upgrade;
      timer_->stop();
      events_->onUpstreamResponseComplete(*this);
      return;
    case http::ParseStatus::Error: {
      const bool headSeen = state_ == State::ReadingBody;
      ProxyError error = !headSeen && parser_.errorStatus() == 431
                             ? ProxyError::UpstreamHeadTooLarge
                             : ProxyError::UpstreamProtocolError;
      fail(error, headSeen ? Phase::ReadBody : Phase::WaitHead, parser_.errorReason());
      return;
    }
    }
  }
}

void UpstreamConnection::onStreamRead(uv::TcpStream&, std::string_view data) {
  lastReadAt_ = context_.loop.now();
  if (state_ == State::Idle) {
    close(); // an idle upstream must not talk: whatever it says is not ours to relay
    return;
  }
  responseBytes_ += data.size();
  feed(data);
  if (events_ != nullptr && state_ != State::Closed) {
    events_->onUpstreamReadProcessed(*this);
  }
}

void UpstreamConnection::onStreamReadEnd(uv::TcpStream&, int status) {
  const std::string name = uv::errorName(status);
  switch (state_) {
  case State::Idle:
    close();
    return;
  case State::Ready:
    fail(ProxyError::UpstreamClosed, Phase::Send, name);
    return;
  case State::WaitingHead:
    fail(ProxyError::UpstreamClosed, Phase::WaitHead, name);
    return;
  case State::ReadingBody:
    if (parser_.framing() == http::BodyFraming::UntilClose && status == uv::kEof) {
      if (parser_.finish() == http::ParseStatus::MessageComplete && events_ != nullptr) {
        responseDone_ = true;
        leftoverBytes_ = true; // the connection is over anyway
        timer_->stop();
        events_->onUpstreamResponseComplete(*this);
        return;
      }
    }
    // A TLS origin whose TCP ended without close_notify (kEofTruncated) may have been cut
    // short by anyone on the path: a body that ends at close is then not known to be whole,
    // so it fails like any cut body and the client sees a reset, never a clean end.
    fail(ProxyError::UpstreamBodyAborted, Phase::ReadBody,
         status == uv::kEofTruncated ? "TLS closed without close_notify: body may be truncated"
                                     : name);
    return;
  default:
    return;
  }
}

void UpstreamConnection::onStreamConnected(uv::TcpStream&, int status) {
  if (state_ != State::Connecting) {
    return;
  }
  if (status < 0) {
    fail(connectErrorFor(status), Phase::Connect, std::string("connect ") + uv::errorName(status));
    return;
  }
  timer_->stop();
  state_ = State::Ready;
  stream_->setNoDelay(true);
  if (tlsContext_) {
    // The handshake starts with the first write (the request head) and runs on the loop.
    stream_->setFilter(tls::Session::client(tlsContext_, tlsHost_));
  }
  stream_->startRead();
  if (events_ != nullptr) {
    events_->onUpstreamConnected(*this);
  }
}

void UpstreamConnection::onStreamWriteError(uv::TcpStream&, int status) {
  const bool headSeen = state_ == State::ReadingBody;
  fail(headSeen ? ProxyError::UpstreamBodyAborted : ProxyError::UpstreamClosed,
       headSeen ? Phase::ReadBody : Phase::Send, std::string("write ") + uv::errorName(status));
}

void UpstreamConnection::onStreamDrained(uv::TcpStream&) {
  if (events_ != nullptr) {
    events_->onUpstreamDrained(*this);
  }
}

void UpstreamConnection::onStreamClosed(uv::TcpStream&) {
  handleClosed();
}

void UpstreamConnection::onStreamFilterFailed(uv::TcpStream& stream, uv::FilterStatus,
                                              const std::string& detail) {
  if (state_ == State::Idle) {
    close();
    return;
  }
  const tls::Session* session = tls::sessionOf(stream);
  const bool certificate = session != nullptr && session->certificateError();
  if (session != nullptr && session->handshakeDone()) {
    const bool headSeen = state_ == State::ReadingBody;
    fail(headSeen ? ProxyError::UpstreamBodyAborted : ProxyError::UpstreamClosed,
         headSeen ? Phase::ReadBody : Phase::WaitHead, detail);
    return;
  }
  fail(certificate ? ProxyError::TlsCertificateError : ProxyError::TlsProtocolError, Phase::Tls,
       detail);
}
void UpstreamConnection::onTimerClosed(uv::Timer&) {
  handleClosed();
}

void UpstreamConnection::onTimer(uv::Timer&) {
  const auto& config = context_.config;
  const uint64_t now = context_.loop.now();
  switch (state_) {
  case State::Connecting:
    if (connectError_ != 0) {
      fail(connectErrorFor(connectError_), Phase::Connect,
           std::string("connect ") + uv::errorName(connectError_));
    } else {
      fail(ProxyError::ConnectTimeout, Phase::Connect,
           "no TCP handshake within " + std::to_string(config.connectTimeoutMs) + " ms");
    }
    return;
  case State::WaitingHead:
    if (now >= requestSentAt_ + config.responseTimeoutMs) {
      fail(ProxyError::UpstreamResponseTimeout, Phase::WaitHead,
           "no complete response head within " + std::to_string(config.responseTimeoutMs) + " ms");
    } else if (now >= lastReadAt_ + config.readTimeoutMs) {
      fail(ProxyError::UpstreamReadTimeout, Phase::WaitHead,
           "no byte from the upstream for " + std::to_string(config.readTimeoutMs) + " ms");
    } else {
      armWaitTimer();
    }
    return;
  case State::ReadingBody:
    if (readPaused_) {
      lastReadAt_ = now;
      armWaitTimer();
    } else if (now >= lastReadAt_ + config.readTimeoutMs) {
      fail(ProxyError::UpstreamReadTimeout, Phase::ReadBody,
           "no byte from the upstream for " + std::to_string(config.readTimeoutMs) + " ms");
    } else {
      armWaitTimer();
    }
    return;
  case State::Idle:
    close();
    return;
  default:
    return;
  }
}

void UpstreamConnection::onBodyData(std::string_view data) {
  if (events_ != nullptr) {
    events_->onUpstreamBody(*this, data);
  }
}

void UpstreamConnection::onTrailers(const http::HeaderList& trailers) {
  if (events_ != nullptr) {
    events_->onUpstreamTrailers(*this, trailers);
  }
}

UpstreamConnection* UpstreamPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) {
    return nullptr;
  }
  UpstreamConnection* conn = it->second.back();
  it->second.pop_back();
  if (it->second.empty()) {
    idle_.erase(it);
  }
  return conn;
}

bool UpstreamPool::put(UpstreamConnection* connection) {
  auto& list = idle_[connection->poolKey()];
  if (list.size() >= kMaxIdlePerKey) {
    return false;
  }
  list.push_back(connection);
  return true;
}

void UpstreamPool::remove(UpstreamConnection* connection) {
  auto it = idle_.find(connection->poolKey());
  if (it == idle_.end()) {
    return;
  }
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), connection), list.end());
  if (list.empty()) {
    idle_.erase(it);
  }
}

void UpstreamPool::closeAll() {
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& [key, list] : idle) {
    for (UpstreamConnection* conn : list) {
      conn->setEvents(nullptr);
      conn->close(); // state is Idle: close() asks remove(), which finds nothing now
    }
  }
}

} // namespace gatehouse::proxy
