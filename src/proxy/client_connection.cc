#include "gatehouse/proxy/client_connection.h"

#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;

// Every idle keep-alive connection and every tunnel pays for one (a 208-byte allocation).
static_assert(sizeof(ClientConnection) <= 200);

ClientConnection::ClientConnection(WorkerContext& context, uv::TcpStream* stream)
    : RequestCycle(context, stream), timer_(uv::Timer::create(context.loop, this)) {
  client_->setHandler(this);
  lastClientActivity_ = headStartedAt_;
  stateSince_ = lastClientActivity_;
  context_->connections.insert(this);
}

ClientConnection::~ClientConnection() {
  context_->counters.clientConnections.fetch_sub(1, std::memory_order_relaxed);
}

void ClientConnection::scheduleRelease() {
  if (!machine_.is(State::Closed)) {
    requests_.scheduleRelease(context_->loop.now());
    armTimer();
  }
}

void ClientConnection::followReload() {
  WorkerContext* next = context_->successor;
  // Only between requests, and never inside a callback of the request's parts (this runs at
  // the top of a client read or from the timer): they are rebuilt on the new context.
  if (next == nullptr || !requests_.betweenRequests(machine_.state())) {
    return;
  }
  requests_.clear();
  authMemo_.reset(); // the users may have changed: the next request authenticates again
  context_->connections.erase(this);
  context_ = next;
  context_->connections.insert(this);
}

void ClientConnection::start(WorkerContext& context, uv::TcpStream* stream, bool tls) {
  uint64_t open = context.counters.clientConnections.fetch_add(1, std::memory_order_relaxed) + 1;
  auto* conn = new ClientConnection(context, stream);
  conn->client_->setNoDelay(true);
  if (tls && context.tlsServer != nullptr) {
    conn->client_->setFilter(tls::Session::server(context.tlsServer->current()));
  }
  if (open > context.config.maxConnections) {
    // Answer rather than refuse, so the client learns why; the listener keeps accepting.
    conn->startBareRecord(context.loop.now());
    conn->respondError(ProxyError::ConnectionLimit, Phase::ReadHead,
                       "at most " + std::to_string(context.config.maxConnections) +
                           " client connections");
    return;
  }
  conn->updateClientReading();
  conn->armTimer();
}

void ClientConnection::shutdown() {
  closeNow(false, ConnectionEnd::Shutdown);
}

void ClientConnection::drain() {
  if (machine_.is(State::Closed)) {
    return;
  }
  // Waiting for a next request that no byte of has come (pipelined bytes kept are one): no
  // request is lost by closing. Before the first request a client may be sending it: the
  // request head timeout ends that wait.
  if (machine_.is(State::ReadingHead) && !requests_.headStarted() && !requests_.hasKept() &&
      requestCount_ > 0) {
    closeNow(false, ConnectionEnd::Shutdown);
    return;
  }
  // A response not yet begun says Connection: close. Without request work there is none (an
  // idle connection's next request reads `draining` from the context).
  if (requests_.active()) {
    flow().clientKeepAlive = false;
  }
}

void ClientConnection::transition(State next) {
  if (machine_.is(State::Closed)) {
    return; // Closed is final
  }
  log::diag().trace("c{}.{} {} -> {}", context_->workerIndex, id_, stateName(machine_.state()),
                    stateName(next));
  machine_.to(next);
  stateSince_ = context_->loop.now();
}

// ---- client reads --------------------------------------------------------------------------

void ClientConnection::onStreamRead(uv::TcpStream&, std::string_view data) {
  lastClientActivity_ = context_->loop.now();
  if (machine_.is(State::Draining)) {
    return; // lingering close: discard
  }
  followReload(); // a keep-alive connection's next request runs on the newest configuration
  reader().feed(data);
  updateClientReading();
  armTimer();
}

void ClientConnection::updateClientReading() {
  const std::optional<bool> want =
      wantClientReads(machine_.state(), requests_.hasKept(), requests_.upstreamFull(), clientEof_);
  if (!want) {
    return; // the tunnel decides, or nothing is left to read
  } else if (*want) {
    client_->startRead();
  } else {
    client_->stopRead();
  }
}

// ---- between requests ----------------------------------------------------------------------

void ClientConnection::onStreamDrained(uv::TcpStream&) {
  if (machine_.is(State::Forwarding) && requests_.active()) {
    exchange().onClientDrained();
  }
}

void ClientConnection::nextRequest() {
  transition(State::ReadingHead);
  requests_.resetExchange();
  headStartedAt_ = context_->loop.now();
  lastClientActivity_ = context_->loop.now();
  drainPending();
}

void ClientConnection::drainPending() {
  if (reader().feeding()) {
    return; // the feed() below us goes on with the bytes it holds
  }
  reader().resumeKept();
  updateClientReading();
  armTimer();
  if (machine_.is(State::ReadingHead) && !requests_.hasKept()) {
    scheduleRelease();
  }
}

// ---- tunnels -------------------------------------------------------------------------------

void ClientConnection::beginTunnel(uv::TcpStream* upstreamStream, std::string_view toClient) {
  transition(State::Tunneling);
  record().phase = Phase::Tunnel;
  uv::StreamHandler* self = this;
  TunnelEvents* events = this;
  tunnel_ =
      std::make_unique<Tunnel>(client_, self, upstreamStream, events, context_->config.splice);
  std::string toUpstream = reader().takeKept();
  // A tunnel never asks for credentials again: the memo goes (wiped) rather than idling
  // beside the tunnel for its whole life.
  authMemo_.reset();
  tunnel_->start(toUpstream, toClient);
  armTimer();
  scheduleRelease(); // the parser and connector are done with
}

void ClientConnection::onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) {
  recordTunnelEnd(record(), tunnel.bytesFromClient(), tunnel.bytesToClient(), end.reason);
  if (tunnel.spliced()) {
    context_->counters.splicedTunnels.fetch_add(1, std::memory_order_relaxed);
  }
  log::diag().debug("{} tunnel to {} ended: {}{}", record().id, record().upstreamAddress,
                    end.detail, tunnel.spliced() ? " (spliced)" : "");
  finishRecord();
  closeNow(end.reason == TunnelEnd::Reason::UpstreamError, ConnectionEnd::TunnelEnded);
}

// ---- ending --------------------------------------------------------------------------------

void ClientConnection::beginDraining() {
  if (machine_.is(State::Closed) || machine_.is(State::Draining)) {
    return;
  }
  transition(State::Draining);
  requests_.stop();
  requests_.dropKept(); // never read: we are closing
  lingering_.begin(client_->writeQueueSize());
  if (client_->shutdown() != 0) {
    closeNow(false, ConnectionEnd::Drained);
    return;
  }
  updateClientReading();
  armTimer();
}

void ClientConnection::onStreamShutdown(uv::TcpStream&, int status) {
  if (!machine_.is(State::Draining)) {
    return;
  }
  if (!lingering_.lingerAfterShutdown(status, clientEof_)) {
    closeNow(false, ConnectionEnd::Drained);
    return;
  }
  stateSince_ = context_->loop.now(); // the linger clock starts now
  armTimer();
}

void ClientConnection::onStreamReadEnd(uv::TcpStream&, int status) {
  clientEof_ = true;
  switch (machine_.state()) {
  case State::ReadingHead:
    if (requests_.headStarted()) {
      log::diag().debug("c{}.{} client {} closed in the middle of a request head",
                        context_->workerIndex, id_, clientAddress_);
    }
    closeNow(false, ConnectionEnd::ClientClosed);
    return;
  case State::Resolving:
  case State::Connecting:
  case State::Forwarding:
  case State::Deciding:
    abortExchange(ProxyError::ClientClosed, record().phase,
                  status == uv::kEof ? "client closed the connection"
                                     : std::string("client ") + uv::errorName(status));
    return;
  case State::Draining:
    if (lingering_.closeOnClientEof(client_->writeQueueSize())) {
      closeNow(false, ConnectionEnd::Drained);
    }
    return;
  default:
    return;
  }
}

void ClientConnection::onStreamWriteError(uv::TcpStream&, int status) {
  if (machine_.is(State::Draining) || machine_.is(State::ReadingHead)) {
    closeNow(true, ConnectionEnd::ClientClosed);
    return;
  }
  abortExchange(ProxyError::ClientClosed, record().phase,
                std::string("write to client: ") + uv::errorName(status));
}

void ClientConnection::closeNow(bool reset, ConnectionEnd reason) {
  if (machine_.is(State::Closed)) {
    return;
  }
  log::diag().debug("c{}.{} closing in {}: {}", context_->workerIndex, id_,
                    stateName(machine_.state()), connectionEndName(reason));
  machine_.close(reason);
  requests_.stop();
  if (tunnel_ && !tunnel_->ended()) {
    tunnel_->abort("connection closing"); // calls onTunnelEnded, which returns at once now
  }
  authMemo_.reset(); // wiped in its destructor
  context_->connections.erase(this);
  client_->setHandler(this);
  if (reset) {
    client_->closeWithReset();
  } else {
    client_->close();
  }
  timer_->close();
}

void ClientConnection::onStreamClosed(uv::TcpStream&) {
  handleClosed();
}

void ClientConnection::onStreamFilterFailed(uv::TcpStream&, uv::FilterStatus status,
                                            const std::string& detail) {
  if (status != uv::FilterStatus::WrongProtocol || !machine_.is(State::ReadingHead)) {
    log::diag().info("c{}.{} TLS with client {} failed: {}", context_->workerIndex, id_,
                     clientAddress_, detail);
    closeNow(false, ConnectionEnd::TlsFailed);
    return;
  }
  // Plain HTTP on the TLS port: answer in plain text, as nginx does, and say what to change.
  client_->removeFilter();
  startBareRecord(context_->loop.now());
  respondError(ProxyError::PlainHttpOnTlsPort, Phase::Tls,
               "plain HTTP sent to the TLS port; use https:// for the proxy URL");
}

void ClientConnection::onTimerClosed(uv::Timer&) {
  handleClosed();
}

void ClientConnection::handleClosed() {
  if (--openHandles_ == 0) {
    delete this;
  }
}

// ---- timers --------------------------------------------------------------------------------

ConnectionClock ClientConnection::clock() const {
  ConnectionClock c;
  c.state = machine_.state();
  c.now = context_->loop.now();
  c.stateSince = stateSince_;
  c.lastClientActivity = lastClientActivity_;
  c.headStartedAt = headStartedAt_;
  c.requestCount = requestCount_;
  c.writeQueue = client_->writeQueueSize();
  requests_.fillClock(c);
  c.tunnelOpen = tunnel_ != nullptr;
  c.tunnelLastActivity = tunnel_ ? tunnel_->lastActivity() : 0;
  lingering_.fillClock(c);
  return c;
}

void ClientConnection::armTimer() {
  if (machine_.is(State::Closed)) {
    return;
  }
  const ConnectionClock now = clock();
  const std::optional<uint64_t> deadline = nextDeadline(now, deadlineLimits(context_->config));
  if (!deadline) {
    timer_->stop();
    return;
  }
  timer_->start(*deadline > now.now ? *deadline - now.now : 0);
}

void ClientConnection::onTimer(uv::Timer&) {
  if (requests_.releaseDue(context_->loop.now())) {
    requests_.releaseIfIdle(machine_.state());
    followReload(); // then the state's own deadline below
  }
  const ConnectionClock looked = clock(); // what the expiry is judged on, and a look keeps
  Expiry expiry = expiredDeadline(looked, deadlineLimits(context_->config));
  switch (expiry.kind) {
  case Expiry::Kind::None:
    break;
  case Expiry::Kind::RequestHead:
    startBareRecord(headStartedAt_);
    respondError(expiry.error, expiry.phase, std::move(expiry.detail));
    return;
  case Expiry::Kind::IdleClose:
    log::diag().debug("c{}.{} idle keep-alive connection closed", context_->workerIndex, id_);
    closeNow(expiry.reset, expiry.end);
    return;
  case Expiry::Kind::DnsTimeout:
    exchange().failDnsTimeout();
    return;
  case Expiry::Kind::RequestBody:
    flow().clientKeepAlive = false;
    failExchange(expiry.error, expiry.phase, std::move(expiry.detail));
    return;
  case Expiry::Kind::TunnelIdle:
    tunnel_->abort(std::move(expiry.detail));
    return;
  case Expiry::Kind::DrainProgress:
    lingering_.progressed(looked.writeQueue); // give it another period
    stateSince_ = looked.now;
    break;
  case Expiry::Kind::ResponseProgress:
    requests_.responseLooked(looked.now, looked.responseTaken);
    break;
  case Expiry::Kind::ResponseStalled:
    // A client that stopped reading: the cut is its own slowness ('c'), not a departure.
    record().fail(expiry.error, expiry.phase, EndCause::ClientTimeout, expiry.detail);
    abortExchange(expiry.error, expiry.phase, std::move(expiry.detail));
    return;
  case Expiry::Kind::DrainStalled:
  case Expiry::Kind::Lingered:
    closeNow(expiry.reset, expiry.end);
    return;
  }
  armTimer();
}

} // namespace gatehouse::proxy
