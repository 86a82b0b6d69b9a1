#include "gatehouse/proxy/client_connection.h"

#include "gatehouse/http/header_rules.h"
#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/error_response.h"
#include "gatehouse/proxy/local_answer.h"
#include "gatehouse/proxy/request_intake.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;
using policy::Verdict;

// Every idle keep-alive connection and every tunnel pays for one (a 208-byte allocation).
static_assert(sizeof(ClientConnection) <= 200);

ClientConnection::ClientConnection(WorkerContext& context, uv::TcpStream* stream)
    : context_(&context), client_(stream), timer_(uv::Timer::create(context.loop, this)),
      id_(context.nextConnectionId++) {
  client_->setHandler(this);
  uv::SocketAddress peer = client_->peerAddress();
  clientAddress_ = peer.toString();
  lastClientActivity_ = context_->loop.now();
  stateSince_ = lastClientActivity_;
  headStartedAt_ = lastClientActivity_; // the first request head is due from accept
  context_->connections.insert(this);
}

ClientConnection::~ClientConnection() {
  context_->counters.clientConnections.fetch_sub(1, std::memory_order_relaxed);
}

void ClientConnection::startBareRecord(uint64_t startMs) {
  resetExchange();
  beginRecord(record(), nextRequestId(), startMs, requests_.head());
  flow().clientKeepAlive = false;
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
  if (machine_.is(State::ReadingHead) && !headStarted() && !hasKept() && requestCount_ > 0) {
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

std::string ClientConnection::nextRequestId() {
  return std::to_string(context_->workerIndex) + "." + std::to_string(id_) + "." +
         std::to_string(++requestCount_);
}

// ---- reading requests ----------------------------------------------------------------------

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

ReadMode ClientConnection::readMode() const {
  return readModeFor(machine_.state(), flow().requestComplete, flow().webSocket);
}

void ClientConnection::onReaderHeadBegins() {
  if (requestCount_ > 0) {
    headStartedAt_ = context_->loop.now(); // the first request's head is due from accept
  }
}

void ClientConnection::onReaderError(bool inBody) {
  if (!inBody) {
    startBareRecord(headStartedAt_);
    respondError(errorForParseStatus(parser().errorStatus()), Phase::ReadHead,
                 parser().errorReason());
    return;
  }
  flow().clientKeepAlive = false;
  failExchange(ProxyError::BadRequest, Phase::Send, "request body: " + parser().errorReason());
}

void ClientConnection::onReaderDiscardOverflow() {
  log::diag().info("c{}.{} refused request body over {} bytes; closing", context_->workerIndex, id_,
                   kMaxDiscardBytes);
  closeNow(false, ConnectionEnd::Drained);
}

void ClientConnection::updateClientReading() {
  const std::optional<bool> want =
      wantClientReads(machine_.state(), hasKept(), requests_.upstreamFull(), clientEof_);
  if (!want) {
    return; // the tunnel decides, or nothing is left to read
  } else if (*want) {
    client_->startRead();
  } else {
    client_->stopRead();
  }
}

void ClientConnection::onRequestHead(std::string_view sameRead) {
  const http::RequestHead& request = parser().request();
  resetExchange();
  beginRecord(record(), nextRequestId(), headStartedAt_, &request);
  flow() = flowOfHead(parser(), facts(), context_->draining, addressHost(clientAddress_));
  requestDetail().accept = std::string(request.headers.get("accept").value_or(""));
  transition(State::Deciding);

  if (std::optional<ErrorAnswer> refusal = refuseSameRead(parser(), sameRead)) {
    flow().clientKeepAlive = false;
    respondError(std::move(*refusal));
    return;
  }
  // Who asks, built per request: an idle connection keeps only its address text.
  policy::ClientIdentity& identity = work().identity;
  identity = identityOf(clientAddress_, tls::sessionOf(*client_));
  work().policyRun = std::make_unique<policy::PolicyRun>(*context_->policy, request, identity,
                                                         facts(), authMemo_, context_->loop.now());
  auto verdict = work().policyRun->start([this](const Verdict& v) {
    // An off-loop check finished: this runs from the loop, outside the reader's feed().
    onPolicyVerdict(v);
    if (!reader().feeding() && !machine_.is(State::Closed)) {
      updateClientReading();
      armTimer();
    }
  });
  if (verdict) {
    onPolicyVerdict(*verdict);
  } else {
    record().phase = Phase::Auth;
    armTimer();
  }
}

void ClientConnection::onPolicyVerdict(const Verdict& verdict) {
  if (!machine_.is(State::Deciding)) {
    return;
  }
  recordDecision(record(), facts(), context_->loop.now());
  switch (verdict.kind) {
  case Verdict::Kind::Refuse:
    respondError(refusalAnswer(verdict));
    return;
  case Verdict::Kind::Answer: {
    const bool close = !requests_.finishBodyless() || !flow().clientKeepAlive;
    respondLocal(renderLocalResponse(verdict.status, verdict.fields, verdict.body,
                                     verdict.contentType, close),
                 verdict.status, close);
    return;
  }
  case Verdict::Kind::Continue:
  case Verdict::Kind::Pending:
    break;
  }
  flow().webSocket = !facts().isConnect && http::isWebSocketUpgrade(parser().request());
  flow().requestChunked = parser().framing() == http::BodyFraming::Chunked;
  startUpstream();
}

void ClientConnection::onReaderBody(std::string_view data) {
  record().bytesIn += data.size();
  flow().expectContinue = false; // the client sends its body: it waits no more
  exchange().sendBody(data);
}

void ClientConnection::onReaderTrailers(const http::HeaderList& trailers) {
  requestDetail().requestTrailers = trailers;
}

void ClientConnection::onRequestComplete() {
  flow().requestComplete = true;
  flow().expectContinue = false;
  if (machine_.is(State::Forwarding)) {
    exchange().finishRequest(requestDetail().requestTrailers);
  }
}

// ---- the forward exchange --------------------------------------------------------------

void ClientConnection::startUpstream() {
  exchange().start();
  if (machine_.is(State::Deciding)) { // no pooled connection took it at once
    transition(State::Resolving);
    armTimer();
  }
}

void ClientConnection::onExchangeConnecting() {
  if (machine_.is(State::Deciding)) {
    transition(State::Resolving); // an address literal: no lookup, but the same path
  }
  if (machine_.is(State::Resolving)) {
    transition(State::Connecting);
  }
  armTimer();
}

void ClientConnection::onExchangeRetrying() {
  transition(State::Resolving);
  armTimer();
}

void ClientConnection::onExchangeSending() {
  transition(State::Forwarding);
  drainPending();
}

void ClientConnection::onExchangeTunnel(uv::TcpStream* upstream, std::string_view toClient) {
  beginTunnel(upstream, toClient);
}

void ClientConnection::onExchangeComplete() {
  finishExchange();
}

void ClientConnection::onExchangeFailed(ProxyError error, Phase phase, std::string detail,
                                        std::string rcode, bool started) {
  if (started) {
    abortExchange(error, phase, std::move(detail));
  } else {
    ErrorAnswer answer(error, phase, std::move(detail));
    answer.rcode = std::move(rcode);
    respondError(std::move(answer));
  }
}

void ClientConnection::onExchangeUpstreamDrained() {
  updateClientReading();
}

bool ClientConnection::writeClient(std::initializer_list<std::string_view> buffers) {
  int rc = client_->write(buffers);
  if (rc == 0) {
    return true;
  }
  // libuv will not call back for this write: end the exchange here.
  if (!machine_.is(State::Closed)) {
    if (ExchangeRecord* rec = requests_.recordIfAny(); rec && !rec->id.empty()) {
      recordClientWriteFailure(*rec, rc);
      finishRecord();
    }
    closeNow(true, ConnectionEnd::ClientClosed);
  }
  return false;
}

void ClientConnection::onStreamDrained(uv::TcpStream&) {
  if (machine_.is(State::Forwarding) && requests_.active()) {
    exchange().onClientDrained();
  }
}

void ClientConnection::finishExchange() {
  finishRecord();
  exchange().release();
  if (exchange().closeAfter() || !flow().clientKeepAlive || !flow().requestComplete) {
    beginDraining();
    return;
  }
  nextRequest();
}

void ClientConnection::nextRequest() {
  transition(State::ReadingHead);
  resetExchange();
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
  if (machine_.is(State::ReadingHead) && !hasKept()) {
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

// ---- responses the proxy writes itself -------------------------------------------------------

void ClientConnection::respondLocal(std::string response, int status, bool close) {
  record().status = status;
  if (!writeClient({response})) {
    return; // the record is finished without these bytes: they never went out
  }
  record().bytesOut += response.size();
  finishRecord();
  if (close) {
    beginDraining();
  } else {
    nextRequest();
  }
}

void ClientConnection::respondError(ErrorAnswer answer) {
  if (machine_.is(State::Closed) || machine_.is(State::Draining)) {
    return;
  }
  requests_.cancelUpstream();
  work(); // the page names the request's target and reads its Accept
  const bool keep = requests_.keepAfterAnswer(answer.error);
  const AnswerContext where =
      answerContextFor(context_->config.statusMode, context_->pseudonym, facts().authority,
                       requestDetail().accept, context_->loop.now());
  std::string page = answerError(record(), std::move(answer), where, !keep);
  respondLocal(std::move(page), record().status, !keep);
}

void ClientConnection::respondError(ProxyError error, Phase phase, std::string detail) {
  respondError(ErrorAnswer(error, phase, std::move(detail)));
}

void ClientConnection::failExchange(ProxyError error, Phase phase, std::string detail) {
  if (responseStarted()) {
    abortExchange(error, phase, std::move(detail));
  } else {
    respondError(error, phase, std::move(detail));
  }
}

void ClientConnection::abortExchange(ProxyError error, Phase phase, std::string detail) {
  if (machine_.is(State::Closed)) {
    return;
  }
  const bool started = responseStarted();
  const CutEnding ending = cutExchange(record(), error, phase, std::move(detail), started,
                                       started && exchange().responseFramed());
  finishRecord();
  if (ending == CutEnding::Fin && !machine_.is(State::Draining)) {
    beginDraining();
    return;
  }
  closeNow(true, ConnectionEnd::ResponseAborted);
}

void ClientConnection::finishRecord() {
  if (ExchangeRecord* rec = requests_.recordIfAny()) {
    rec->finish(clientAddress_, context_->loop.now());
  }
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
    if (headStarted()) {
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
  requests_.fillClock(c);
  c.tunnelOpen = tunnel_ != nullptr;
  c.tunnelLastActivity = tunnel_ ? tunnel_->lastActivity() : 0;
  c.writeQueue = client_->writeQueueSize();
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
  Expiry expiry = expiredDeadline(clock(), deadlineLimits(context_->config));
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
    lingering_.progressed(client_->writeQueueSize()); // give it another period
    stateSince_ = context_->loop.now();
    break;
  case Expiry::Kind::DrainStalled:
  case Expiry::Kind::Lingered:
    closeNow(expiry.reset, expiry.end);
    return;
  }
  armTimer();
}

} // namespace gatehouse::proxy
