#include "gatehouse/proxy/client_connection.h"

#include <algorithm>
#include <openssl/crypto.h>

#include "gatehouse/auth/authenticator.h"
#include "gatehouse/http/header_rules.h"
#include "gatehouse/http/serializer.h"
#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/error_response.h"
#include "gatehouse/proxy/forwarder.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;

namespace {

// How long a closing connection keeps reading (and discarding) so that unread request bytes
// do not turn our FIN into a RST that destroys the response in flight (lingering close).
constexpr uint64_t kLingerMs = 5000;

constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

// How long a connection stays idle before its per-request state is freed: long enough that a
// busy keep-alive connection (a request every few ms) never pays for freeing and reallocating
// it, short enough that a burst of new connections going idle leaves little freed memory
// between the ones that stay (250 ms cost 0.2 KiB of RSS per idle connection; 20 ms, none
// measurable, and no throughput change in bench/http_rps.sh).
constexpr uint64_t kReleaseIdleStateMs = 20;

// The largest request body read and thrown away to keep a connection open after a 407.
constexpr uint64_t kMaxDiscardBytes = 1024 * 1024;

constexpr std::string_view kAllowedMethods =
    "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH";

ProxyError errorForParseStatus(int status) {
  switch (status) {
  case 431:
    return ProxyError::RequestHeadTooLarge;
  case 414:
    return ProxyError::RequestTargetTooLong;
  case 501:
    return ProxyError::UnsupportedTransferCoding;
  case 505:
    return ProxyError::UnsupportedVersion;
  default:
    return ProxyError::BadRequest;
  }
}

} // namespace

const char* ClientConnection::stateName(State state) {
  switch (state) {
  case State::ReadingHead:
    return "reading-head";
  case State::Authorizing:
    return "authorizing";
  case State::Resolving:
    return "resolving";
  case State::Connecting:
    return "connecting";
  case State::Forwarding:
    return "forwarding";
  case State::Tunneling:
    return "tunneling";
  case State::Draining:
    return "draining";
  case State::Closed:
    return "closed";
  }
  return "unknown";
}

ClientConnection::ClientConnection(WorkerContext& context, uv::TcpStream* stream)
    : context_(context), client_(stream), timer_(uv::Timer::create(context.loop, this)),
      id_(context.nextConnectionId++) {
  client_->setHandler(this);
  uv::SocketAddress peer = client_->peerAddress();
  clientAddress_ = peer.toString();
  lastClientActivity_ = context_.loop.now();
  stateSince_ = lastClientActivity_;
  context_.connections.insert(this);
}

std::string_view ClientConnection::clientHost() const {
  std::string_view address = clientAddress_;
  size_t colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

ClientConnection::~ClientConnection() {
  if (authMemo_) {
    OPENSSL_cleanse(authMemo_->header.data(), authMemo_->header.size());
  }
  context_.counters.clientConnections.fetch_sub(1, std::memory_order_relaxed);
}

ClientConnection::RequestWork::RequestWork(WorkerContext& context, http::BodySink* sink,
                                           ConnectorEvents& events)
    : parser(http::MessageParser::Type::Request, context.requestLimits, sink),
      connector(context, events) {}

ClientConnection::RequestWork& ClientConnection::work() {
  if (!work_) {
    http::BodySink* sink = this;
    ConnectorEvents& events = *this;
    work_ = std::make_unique<RequestWork>(context_, sink, events);
  }
  return *work_;
}

ClientConnection::Exchange& ClientConnection::exchange() {
  if (!exchange_) {
    exchange_ = std::make_unique<Exchange>();
  }
  return *exchange_;
}

void ClientConnection::resetExchange() {
  exchange() = Exchange{};
  if (work_) {
    work_->request = RequestDetail{};
  }
}

void ClientConnection::cancelUpstreamAttempt() {
  if (work_) {
    work_->connector.cancel();
  }
}

void ClientConnection::scheduleRelease() {
  if (state_ != State::Closed) {
    releaseAt_ = context_.loop.now() + kReleaseIdleStateMs;
    armTimer();
  }
}

void ClientConnection::releaseIfIdle() {
  releaseAt_ = 0;
  const bool idle = state_ == State::ReadingHead && pending_.empty() && work_ &&
                    !work_->parser.headStarted() && !work_->parser.inBody();
  if (idle || state_ == State::Tunneling) {
    work_.reset();
    if (idle) {
      exchange_.reset();
    }
  }
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
    conn->exchange().id = conn->nextRequestId();
    conn->exchange().startMs = context.loop.now();
    conn->exchange().clientKeepAlive = false;
    conn->respondError(ProxyError::ConnectionLimit, Phase::ReadHead,
                       "at most " + std::to_string(context.config.maxConnections) +
                           " client connections");
    return;
  }
  conn->updateClientReading();
  conn->armTimer();
}

void ClientConnection::shutdown() {
  closeNow(false);
}

void ClientConnection::transition(State next) {
  if (state_ == State::Closed) {
    return; // Closed is final
  }
  log::diag().trace("c{}.{} {} -> {}", context_.workerIndex, id_, stateName(state_),
                    stateName(next));
  state_ = next;
  stateSince_ = context_.loop.now();
}

std::string ClientConnection::nextRequestId() {
  return std::to_string(context_.workerIndex) + "." + std::to_string(id_) + "." +
         std::to_string(++requestCount_);
}

// ---- reading requests ----------------------------------------------------------------------

void ClientConnection::onStreamRead(uv::TcpStream&, std::string_view data) {
  lastClientActivity_ = context_.loop.now();
  if (state_ == State::Draining) {
    return; // lingering close: discard
  }
  processInput(data);
  updateClientReading();
  armTimer();
}

void ClientConnection::stash(std::string_view data) {
  if (!data.empty()) {
    pending_.append(data);
    client_->stopRead(); // bounded: nothing more is read until these bytes are used
  }
}

void ClientConnection::processInput(std::string_view data) {
  bool outer = !processing_;
  processing_ = true;
  while (state_ != State::Closed) {
    if (state_ == State::ReadingHead) {
      if (data.empty()) {
        break;
      }
      if (!parser().headStarted()) {
        headStartedAt_ = context_.loop.now();
      }
      size_t used = 0;
      http::ParseStatus status = parser().execute(data, used);
      data.remove_prefix(used);
      if (status == http::ParseStatus::HeadComplete) {
        onRequestHead();
        if (discardInput_) {
          discardInput_ = false;
          data = {};
        }
        continue;
      }
      if (status == http::ParseStatus::MessageComplete) {
        continue; // the end of a body read and discarded after a refusal
      }
      if (status == http::ParseStatus::Error) {
        resetExchange();
        exchange().id = nextRequestId();
        exchange().startMs = context_.loop.now();
        exchange().method = parser().request().method;
        exchange().target = parser().request().target;
        exchange().clientKeepAlive = false;
        respondError(errorForParseStatus(parser().errorStatus()), Phase::ReadHead,
                     parser().errorReason());
        break;
      }
      break; // NeedMore
    }
    if (state_ == State::Forwarding && !exchange().requestComplete && !exchange().webSocket) {
      size_t used = 0;
      http::ParseStatus status = parser().execute(data, used);
      data.remove_prefix(used);
      if (status == http::ParseStatus::MessageComplete || status == http::ParseStatus::Upgrade) {
        onRequestComplete();
        continue;
      }
      if (status == http::ParseStatus::Error) {
        std::string reason = "request body: " + parser().errorReason();
        exchange().clientKeepAlive = false;
        if (exchange().responseStarted) {
          abortExchange(ProxyError::BadRequest, Phase::Send, reason);
        } else {
          respondError(ProxyError::BadRequest, Phase::Send, reason);
        }
      }
      break; // NeedMore or Error
    }
    if (state_ == State::Forwarding && exchange().webSocket && !exchange().requestComplete) {
      // An upgrade request has no body: finish it; what follows is the other protocol.
      size_t used = 0;
      parser().execute({}, used);
      onRequestComplete();
      continue;
    }
    stash(data); // not consuming now (waiting for the upstream, or pipelined requests)
    break;
  }
  if (outer) {
    processing_ = false;
  }
}

void ClientConnection::updateClientReading() {
  if (state_ == State::Closed) {
    return;
  }
  bool want = false;
  switch (state_) {
  case State::ReadingHead:
  case State::Authorizing:
  case State::Resolving:
  case State::Connecting:
    want = pending_.empty();
    break;
  case State::Forwarding:
    want = pending_.empty() && (upstream_ == nullptr || !upstream_->aboveHighWatermark());
    break;
  case State::Draining:
    want = !clientEof_;
    break;
  default:
    return; // Tunneling: the tunnel decides
  }
  if (want) {
    client_->startRead();
  } else {
    client_->stopRead();
  }
}

bool ClientConnection::finishBodylessRequest() {
  if (exchange().requestComplete) {
    return true;
  }
  if (!parser().inBody() || parser().framing() != http::BodyFraming::None || exchange().isConnect) {
    return false;
  }
  size_t used = 0;
  http::ParseStatus status = parser().execute({}, used);
  exchange().requestComplete = status == http::ParseStatus::MessageComplete;
  return exchange().requestComplete;
}

void ClientConnection::onRequestHead() {
  const http::RequestHead& request = parser().request();
  resetExchange();
  exchange().id = nextRequestId();
  exchange().startMs = context_.loop.now();
  exchange().method = request.method;
  exchange().target = request.target;
  exchange().clientMinor = request.versionMinor;
  exchange().clientKeepAlive = !http::wantsClose(request.headers, request.versionMinor);
  exchange().isHead = request.method == "HEAD";
  requestDetail().accept = std::string(request.headers.get("accept").value_or(""));
  std::string error;

  // A TLS listener with a client CA wants a certificate before anything else.
  if (const tls::Session* session = tls::sessionOf(*client_);
      session != nullptr && !context_.config.tlsClientCa.empty()) {
    int certificate = session->clientCertificate();
    if (certificate <= 0) {
      exchange().clientKeepAlive = false;
      respondError(certificate == 0 ? ProxyError::ClientCertRequired
                                    : ProxyError::ClientCertInvalid,
                   Phase::Tls,
                   certificate == 0 ? "no client certificate"
                                    : "client certificate "
                                      "did not verify: " +
                                          session->clientSubject());
      return;
    }
  }
  // First what the request is (a target we cannot read is a 400 whoever sends it), then who
  // sends it, then whether policy lets it through.
  if (request.isConnect()) {
    exchange().isConnect = true;
    auto authority = http::parseAuthorityForm(request.target, error);
    if (!authority) {
      respondError(ProxyError::BadRequest, Phase::ReadHead, "CONNECT target: " + error);
      return;
    }
    requestDetail().authority = *authority;
    authorize();
    return;
  }
  switch (http::classifyTarget(request.target)) {
  case http::TargetForm::Absolute:
    break;
  case http::TargetForm::Origin:
    respondError(ProxyError::NotAProxyRequest, Phase::ReadHead,
                 "origin-form target sent to a proxy; send absolute-form "
                 "(GET http://host/path) or configure this address as your HTTP proxy");
    return;
  case http::TargetForm::Asterisk:
    if (request.method == "OPTIONS" && finishBodylessRequest()) {
      http::HeaderList fields;
      fields.add("Allow", std::string(kAllowedMethods));
      respondLocal(renderLocalResponse(200, fields, "", "", !exchange().clientKeepAlive), 200,
                   !exchange().clientKeepAlive);
      return;
    }
    respondError(ProxyError::BadRequest, Phase::ReadHead, "asterisk-form is only for OPTIONS");
    return;
  default:
    respondError(ProxyError::BadRequest, Phase::ReadHead, "invalid request target");
    return;
  }
  auto uri = http::parseAbsoluteUri(request.target, error);
  if (!uri) {
    respondError(ProxyError::BadRequest, Phase::ReadHead, "request target: " + error);
    return;
  }
  requestDetail().uri = *uri;
  requestDetail().authority = uri->authority;
  authorize();
}

void ClientConnection::authorize() {
  if (context_.authenticator == nullptr) {
    continueRequest();
    return;
  }
  // A client certificate the TLS listener verified can stand in for Basic credentials.
  if (const tls::Session* session = tls::sessionOf(*client_); session != nullptr &&
                                                              context_.config.tlsClientCertAuth &&
                                                              session->clientCertificate() == 1) {
    exchange().user = "cert:" + session->clientSubject();
    continueRequest();
    return;
  }
  auto header = parser().request().headers.get("proxy-authorization");
  auth::Authenticator& authenticator = *context_.authenticator;
  if (authMemo_ && header && *header == authMemo_->header &&
      authMemo_->expiresAt > context_.loop.now() &&
      authMemo_->generation == authenticator.generation()) {
    exchange().user = authMemo_->user;
    continueRequest();
    return;
  }
  transition(State::Authorizing);
  exchange().phase = Phase::Auth;
  auto decision = authenticator.check(
      std::string(clientHost()), header,
      [this](const auth::AuthDecision& d) {
        // Off-loop verification finished: this runs from the loop, outside processInput().
        onAuthDecision(d);
        if (!processing_ && state_ != State::Closed) {
          updateClientReading();
          armTimer();
        }
      },
      authPending_);
  if (decision) {
    onAuthDecision(*decision);
  } else {
    armTimer();
  }
}

void ClientConnection::onAuthDecision(const auth::AuthDecision& decision) {
  if (state_ != State::Authorizing) {
    return;
  }
  if (decision.allowed()) {
    exchange().user = decision.user;
    if (auto header = parser().request().headers.get("proxy-authorization")) {
      if (!authMemo_) {
        authMemo_ = std::make_unique<AuthMemo>();
      }
      OPENSSL_cleanse(authMemo_->header.data(), authMemo_->header.size());
      authMemo_->header = std::string(*header);
      authMemo_->user = decision.user;
      authMemo_->generation = context_.authenticator->generation();
      authMemo_->expiresAt = context_.loop.now() + context_.authenticator->cacheTtlMs();
    }
    continueRequest();
    return;
  }
  // The client sees the same 407 whatever the reason; the log line says exactly why.
  std::string detail = std::string("auth: ") + auth::describe(decision.refusal);
  if (!decision.detail.empty()) {
    detail += " (" + decision.detail + ")";
  }
  requestDetail().claimedUser = decision.user;
  http::HeaderList fields;
  if (decision.refusal == auth::Refusal::Throttled) {
    fields.add("Retry-After", std::to_string(decision.retryAfterSeconds));
    respondError(ProxyError::AuthThrottled, Phase::Auth, detail, {}, &fields,
                 "too many failed authentication attempts from this address");
    return;
  }
  fields.add("Proxy-Authenticate",
             "Basic realm=\"" + context_.config.realm + "\", charset=\"UTF-8\"");
  respondError(ProxyError::AuthRequired, Phase::Auth, detail, {}, &fields,
               "valid proxy credentials are required");
}

void ClientConnection::continueRequest() {
  const http::RequestHead& request = parser().request();
  if (exchange().isConnect) {
    if (!context_.config.connectPorts.allows(requestDetail().authority.port)) {
      respondError(ProxyError::ConnectPortDenied, Phase::ReadHead,
                   "CONNECT to port " + std::to_string(requestDetail().authority.port) +
                       " is not allowed (connect-ports " + context_.config.connectPorts.toString() +
                       ")");
      return;
    }
    if (http::viaNames(request.headers, context_.pseudonym)) {
      respondError(ProxyError::LoopDetected, Phase::ReadHead,
                   "Via already names " + context_.pseudonym);
      return;
    }
    startUpstream();
    return;
  }
  if (http::viaNames(request.headers, context_.pseudonym)) {
    respondError(ProxyError::LoopDetected, Phase::ReadHead,
                 "Via already names " + context_.pseudonym);
    return;
  }
  if (auto expect = request.headers.get("expect");
      expect && !http::equalsIgnoreCase(http::trimOws(*expect), "100-continue")) {
    respondError(ProxyError::ExpectationFailed, Phase::ReadHead,
                 "Expect: " + std::string(*expect) + " is not supported");
    return;
  }
  if (request.method == "OPTIONS" || request.method == "TRACE") {
    auto maxForwards = http::maxForwards(request.headers);
    if (maxForwards && *maxForwards == 0) {
      // The proxy is the final recipient (RFC 9110 7.6.2).
      http::HeaderList fields;
      fields.add("Allow", std::string(kAllowedMethods));
      if (request.method == "OPTIONS") {
        bool close = !finishBodylessRequest() || !exchange().clientKeepAlive;
        respondLocal(renderLocalResponse(200, fields, "", "", close), 200, close);
      } else if (!context_.config.allowTrace) {
        respondError(ProxyError::MethodNotAllowed, Phase::ReadHead,
                     "TRACE is disabled (allow-trace)");
      } else {
        // Echo the head as received, minus credentials (RFC 9110 9.3.8 warns of them).
        std::string echo = request.method + " " + request.target + " " + request.version() + "\r\n";
        for (const http::Header& f : request.headers.fields()) {
          if (!http::equalsIgnoreCase(f.name, "proxy-authorization") &&
              !http::equalsIgnoreCase(f.name, "authorization") &&
              !http::equalsIgnoreCase(f.name, "cookie")) {
            echo += f.name + ": " + f.value + "\r\n";
          }
        }
        bool close = !finishBodylessRequest() || !exchange().clientKeepAlive;
        respondLocal(renderLocalResponse(200, {}, echo, "message/http", close), 200, close);
      }
      return;
    }
  }
  exchange().webSocket = http::isWebSocketUpgrade(request);
  exchange().requestChunked = parser().framing() == http::BodyFraming::Chunked;
  startUpstream();
}

void ClientConnection::onBodyData(std::string_view data) {
  exchange().bytesIn += data.size();
  if (upstream_ == nullptr) {
    return;
  }
  if (exchange().requestChunked) {
    upstream_->send({http::chunkSizeLine(data.size()), data, http::kCrlf});
  } else {
    upstream_->send({data});
  }
  if (upstream_->aboveHighWatermark()) {
    client_->stopRead();
    upstream_->notifyWhenDrained();
  }
}

void ClientConnection::onTrailers(const http::HeaderList& trailers) {
  requestDetail().requestTrailers = trailers;
}

void ClientConnection::onRequestComplete() {
  exchange().requestComplete = true;
  if (upstream_ == nullptr) {
    return;
  }
  if (exchange().requestChunked) {
    upstream_->send({http::lastChunk(requestDetail().requestTrailers)});
  }
  upstream_->requestSent();
  exchange().phase = Phase::WaitHead;
}

// ---- upstream ------------------------------------------------------------------------------

void ClientConnection::startUpstream() {
  exchange().phase = Phase::Dns;
  const bool tls = !exchange().isConnect && requestDetail().uri.scheme == "https";
  if (!exchange().isConnect && !exchange().retried) {
    if (UpstreamConnection* pooled = connector().takePooled(requestDetail().authority, tls)) {
      onConnectorReady(pooled);
      return;
    }
  }
  transition(State::Resolving);
  connector().start(requestDetail().authority, tls);
  armTimer();
}

void ClientConnection::onConnectorConnecting(const uv::SocketAddress& address) {
  exchange().phase = Phase::Connect;
  exchange().upstreamAddress = address.toString();
  if (state_ == State::Resolving) {
    transition(State::Connecting);
    armTimer();
  }
}

void ClientConnection::onConnectorReady(UpstreamConnection* upstream) {
  upstream_ = upstream;
  upstream_->setEvents(this);
  exchange().upstreamAddress = upstream->addressText();
  if (exchange().isConnect) {
    client_->write(kConnectEstablished);
    exchange().status = 200;
    exchange().responseStarted = true;
    beginTunnel({});
    return;
  }
  upstream_->beginExchange(exchange().isHead);
  transition(State::Forwarding);
  exchange().phase = Phase::Send;
  sendRequestHead();
  if (state_ != State::Forwarding) {
    return;
  }
  drainPending();
}

void ClientConnection::sendRequestHead() {
  UpstreamRequestPlan plan;
  plan.request = &parser().request();
  plan.uri = &requestDetail().uri;
  plan.framing = parser().framing();
  plan.contentLength = parser().contentLength();
  plan.pseudonym = context_.pseudonym;
  plan.webSocket = exchange().webSocket;
  if (upstream_->send({buildUpstreamRequestHead(plan)}) != 0) {
    // The upstream reports the write failure itself; nothing else to do here.
    return;
  }
  if (exchange().requestComplete) {
    upstream_->requestSent(); // a retried request: already fully read from the client
  }
}

void ClientConnection::onConnectorFailed(const UpstreamFailure& failure) {
  std::string rcode;
  if (failure.error == ProxyError::DnsNotFound) {
    rcode = failure.detail == "ARES_ENODATA" ? "NOERROR" : "NXDOMAIN";
  }
  respondError(failure.error, failure.phase, failure.detail, rcode);
}

void ClientConnection::onUpstreamFailed(UpstreamConnection& upstream,
                                        const UpstreamFailure& failure) {
  upstream_ = nullptr; // it closes itself after this call
  flushHeldHead();     // the client saw the head before the failure, as it would have unheld
  if (exchange().responseStarted) {
    abortExchange(failure.error, failure.phase, failure.detail);
    return;
  }
  // A pooled connection the upstream closed while idle: retry once on a new connection, for a
  // request that is complete and has no body, so nothing is lost or sent twice.
  if (upstream.wasReused() && !upstream.receivedResponseBytes() &&
      failure.error == ProxyError::UpstreamClosed && !exchange().retried &&
      exchange().requestComplete && parser().framing() == http::BodyFraming::None) {
    log::diag().debug("{} reused upstream {} was closed ({}); retrying on a new connection",
                      exchange().id, upstream.addressText(), failure.detail);
    exchange().retried = true;
    startUpstream();
    return;
  }
  respondError(failure.error, failure.phase, failure.detail);
}

void ClientConnection::onUpstreamResponseHead(UpstreamConnection& upstream,
                                              const http::ResponseHead& head,
                                              std::string_view rest) {
  ClientResponseInput input;
  input.response = &head;
  input.requestWasHead = exchange().isHead;
  input.clientVersionMinor = exchange().clientMinor;
  input.pseudonym = context_.pseudonym;
  if (head.status == 101) {
    if (!exchange().webSocket) {
      respondError(ProxyError::UpstreamProtocolError, Phase::WaitHead,
                   "101 Switching Protocols without an upgrade request");
      return;
    }
    input.switchingProtocols = true;
    ClientResponsePlan plan = buildClientResponseHead(input);
    client_->write(plan.head);
    exchange().status = 101;
    exchange().responseStarted = true;
    beginTunnel(rest);
    return;
  }
  if (head.status < 200) {
    // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients only.
    if (exchange().clientMinor >= 1) {
      client_->write(buildClientResponseHead(input).head);
    }
    return;
  }
  input.framing = upstream.responseFraming();
  input.contentLength = upstream.responseContentLength();
  // An early response to a request still being sent: the connection cannot be reused.
  input.clientKeepAlive =
      exchange().clientKeepAlive && exchange().requestComplete && !exchange().webSocket;
  ClientResponsePlan plan = buildClientResponseHead(input);
  exchange().status = head.status;
  exchange().responseStarted = true;
  exchange().responseChunked = plan.chunked;
  exchange().closeAfter = plan.closeAfter;
  exchange().phase = Phase::ReadBody;
  exchange().bytesOut += plan.head.size();
  work().heldHead = std::move(plan.head);
}

void ClientConnection::flushHeldHead() {
  if (work_ && !work_->heldHead.empty()) {
    client_->write(work_->heldHead);
    work_->heldHead.clear();
  }
}

void ClientConnection::onUpstreamReadProcessed(UpstreamConnection& upstream) {
  flushHeldHead(); // no body in this read (or not yet): the head must not wait for one
  if (state_ != State::Forwarding || upstream_ != &upstream) {
    return;
  }
  // The rest of a Content-Length body may go socket to socket; a body re-framed as chunked
  // for the client must pass through here.
  if (exchange().responseChunked) {
    upstream.stopSplicing();
  } else {
    upstream.spliceBodyTo(*client_);
  }
}

void ClientConnection::onUpstreamBodySpliced(UpstreamConnection& upstream, uint64_t bytes) {
  exchange().bytesOut += bytes;
  context_.counters.splicedBodyBytes.fetch_add(bytes, std::memory_order_relaxed);
  if (client_->aboveHighWatermark()) {
    upstream.pauseReading();
    client_->notifyWhenDrained();
  }
}

void ClientConnection::onUpstreamBody(UpstreamConnection& upstream, std::string_view data) {
  exchange().bytesOut += data.size();
  // With a held-back head, empty when there is none (TcpStream::write skips empty buffers).
  std::string_view head = work_ ? std::string_view(work_->heldHead) : std::string_view();
  if (exchange().responseChunked) {
    client_->write({head, http::chunkSizeLine(data.size()), data, http::kCrlf});
  } else {
    client_->write({head, data});
  }
  if (!head.empty()) {
    work_->heldHead.clear();
  }
  if (client_->aboveHighWatermark()) {
    upstream.pauseReading();
    client_->notifyWhenDrained();
  }
}

void ClientConnection::onUpstreamTrailers(UpstreamConnection&, const http::HeaderList& trailers) {
  work().responseTrailers = trailers;
}

void ClientConnection::onUpstreamResponseComplete(UpstreamConnection&) {
  flushHeldHead();
  if (exchange().responseChunked) {
    client_->write(http::lastChunk(work().responseTrailers));
  }
  finishExchange();
}

void ClientConnection::onUpstreamDrained(UpstreamConnection&) {
  updateClientReading();
}

void ClientConnection::onStreamDrained(uv::TcpStream&) {
  if (state_ == State::Forwarding && upstream_ != nullptr) {
    upstream_->resumeReading();
  }
}

void ClientConnection::releaseUpstream(bool reuse) {
  if (upstream_ == nullptr) {
    return;
  }
  UpstreamConnection* upstream = upstream_;
  upstream_ = nullptr;
  upstream->setEvents(nullptr);
  if (reuse) {
    upstream->release();
  } else {
    upstream->close();
  }
}

void ClientConnection::finishExchange() {
  logAccess();
  releaseUpstream(exchange().requestComplete);
  work().responseTrailers = http::HeaderList{};
  if (exchange().closeAfter || !exchange().clientKeepAlive || !exchange().requestComplete) {
    beginDraining();
    return;
  }
  nextRequest();
}

void ClientConnection::nextRequest() {
  transition(State::ReadingHead);
  resetExchange();
  headStartedAt_ = 0;
  lastClientActivity_ = context_.loop.now();
  drainPending();
}

void ClientConnection::drainPending() {
  if (processing_) {
    return; // the processInput() below us goes on with the bytes it holds
  }
  std::string input;
  input.swap(pending_);
  processInput(input);
  updateClientReading();
  armTimer();
  if (state_ == State::ReadingHead && pending_.empty()) {
    scheduleRelease();
  }
}

// ---- tunnels -------------------------------------------------------------------------------

void ClientConnection::beginTunnel(std::string_view toClient) {
  uv::TcpStream* upstreamStream = upstream_->detachStream();
  upstream_ = nullptr;
  transition(State::Tunneling);
  exchange().phase = Phase::Tunnel;
  uv::StreamHandler* self = this;
  TunnelEvents* events = this;
  tunnel_ = std::make_unique<Tunnel>(client_, self, upstreamStream, events, context_.config.splice);
  std::string toUpstream;
  toUpstream.swap(pending_);
  tunnel_->start(toUpstream, toClient);
  armTimer();
  scheduleRelease(); // the parser and connector are done with
}

void ClientConnection::onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) {
  exchange().bytesIn += tunnel.bytesFromClient();
  exchange().bytesOut += tunnel.bytesToClient();
  if (tunnel.spliced()) {
    context_.counters.splicedTunnels.fetch_add(1, std::memory_order_relaxed);
  }
  log::diag().debug("{} tunnel to {} ended: {}{}", exchange().id, exchange().upstreamAddress,
                    end.detail, tunnel.spliced() ? " (spliced)" : "");
  logAccess();
  closeNow(end.reason == TunnelEnd::Reason::UpstreamError);
}

// ---- responses the proxy writes itself -------------------------------------------------------

void ClientConnection::respondLocal(std::string response, int status, bool close) {
  exchange().status = status;
  exchange().bytesOut += response.size();
  client_->write(response);
  logAccess();
  if (close) {
    beginDraining();
  } else {
    nextRequest();
  }
}

bool ClientConnection::discardRequest() {
  if (exchange().isConnect) {
    // Whatever followed a refused CONNECT head (a TLS hello, say) is never read as HTTP.
    parser().reset();
    pending_.clear();
    discardInput_ = true;
    return true;
  }
  if (finishBodylessRequest()) {
    return true;
  }
  // A framed body is read and thrown away in ReadingHead, up to a bound.
  return parser().inBody() && (parser().framing() == http::BodyFraming::Chunked ||
                               (parser().framing() == http::BodyFraming::ContentLength &&
                                parser().contentLength() <= kMaxDiscardBytes));
}

void ClientConnection::respondError(ProxyError error, Phase phase, std::string detail,
                                    std::string rcode, const http::HeaderList* extraFields,
                                    const char* publicDetail) {
  if (state_ == State::Closed || state_ == State::Draining) {
    return;
  }
  exchange().error = error;
  exchange().phase = phase;
  const errors::ErrorInfo& info = errors::info(error);
  const int status = errors::clientStatus(error, context_.config.statusMode);
  const uint64_t elapsed = context_.loop.now() - exchange().startMs;
  cancelUpstreamAttempt();
  releaseUpstream(false);

  // Keep the connection only when the request is fully read and both sides want to.
  const bool authRefusal = error == ProxyError::AuthRequired || error == ProxyError::AuthThrottled;
  const bool keep =
      exchange().clientKeepAlive &&
      (authRefusal ? discardRequest() : !exchange().isConnect && finishBodylessRequest());
  ErrorResponse response;
  response.error = error;
  response.statusMode = context_.config.statusMode;
  response.pseudonym = context_.pseudonym;
  response.detail = publicDetail != nullptr ? std::string(publicDetail) : detail;
  response.requestId = exchange().id;
  response.target =
      requestDetail().authority.host.empty() ? "" : requestDetail().authority.hostPort();
  response.upstream = exchange().upstreamAddress;
  response.rcode = rcode;
  response.elapsedMs = elapsed;
  response.accept = requestDetail().accept;
  response.close = !keep;
  if (extraFields != nullptr) {
    response.extraFields = *extraFields;
  }
  if (error == ProxyError::MethodNotAllowed) {
    response.extraFields.add("Allow", std::string(kAllowedMethods));
  }
  // One diagnostic line per failure: upstream trouble is a warning, client mistakes info.
  auto level = status >= 500 ? spdlog::level::warn : spdlog::level::info;
  log::diag().log(level,
                  "{} {} client={} user={} method={} target={} upstream={} phase={} error={} "
                  "detail={} elapsed_ms={} status={}",
                  exchange().id, info.logName, clientAddress_,
                  !exchange().user.empty()               ? log::quoted(exchange().user)
                  : !requestDetail().claimedUser.empty() ? log::quoted(requestDetail().claimedUser)
                                                         : std::string("-"),
                  exchange().method, log::quoted(exchange().target),
                  exchange().upstreamAddress.empty() ? "-" : exchange().upstreamAddress,
                  errors::phaseName(phase), info.type, log::quoted(detail), elapsed, status);
  respondLocal(renderErrorResponse(response), status, !keep);
}

void ClientConnection::abortExchange(ProxyError error, Phase phase, std::string detail) {
  if (state_ == State::Closed) {
    return;
  }
  exchange().error = error;
  exchange().phase = phase;
  const errors::ErrorInfo& info = errors::info(error);
  const uint64_t elapsed = context_.loop.now() - exchange().startMs;
  if (error == ProxyError::ClientClosed) {
    exchange().status = 499;
    log::diag().info("{} client {} left during {} after {} ms", exchange().id, clientAddress_,
                     errors::phaseName(phase), elapsed);
  } else {
    log::diag().warn("{} {} client={} user={} method={} target={} upstream={} phase={} "
                     "error={} detail={} elapsed_ms={} status={} (response aborted)",
                     exchange().id, info.logName, clientAddress_,
                     exchange().user.empty() ? "-" : log::quoted(exchange().user),
                     exchange().method, log::quoted(exchange().target), exchange().upstreamAddress,
                     errors::phaseName(phase), info.type, log::quoted(detail), elapsed,
                     exchange().status);
  }
  logAccess();
  // Never fake an end: a reset tells the client the response is incomplete.
  closeNow(true);
}

void ClientConnection::logAccess() {
  if (exchange().id.empty()) {
    return;
  }
  const errors::ErrorInfo& info = errors::info(exchange().error);
  log::AccessRecord record;
  record.requestId = exchange().id;
  record.client = clientAddress_;
  record.user = exchange().user;
  record.method =
      exchange().method.empty() ? std::string_view("-") : std::string_view(exchange().method);
  record.target = exchange().target;
  record.status = exchange().status;
  record.bytesIn = exchange().bytesIn;
  record.bytesOut = exchange().bytesOut;
  record.durationMs = context_.loop.now() - exchange().startMs;
  record.upstream = exchange().upstreamAddress;
  record.proxyStatus = info.type;
  if (exchange().error != ProxyError::None) {
    record.phase = errors::phaseName(exchange().phase);
  }
  log::access(record);
}

// ---- ending --------------------------------------------------------------------------------

void ClientConnection::beginDraining() {
  if (state_ == State::Closed || state_ == State::Draining) {
    return;
  }
  transition(State::Draining);
  cancelUpstreamAttempt();
  releaseUpstream(false);
  pending_.clear();
  if (client_->shutdown() != 0) {
    closeNow(false);
    return;
  }
  updateClientReading();
  armTimer();
}

void ClientConnection::onStreamShutdown(uv::TcpStream&, int status) {
  if (state_ == State::Draining && (clientEof_ || status != 0)) {
    closeNow(false);
  }
}

void ClientConnection::onStreamReadEnd(uv::TcpStream&, int status) {
  clientEof_ = true;
  switch (state_) {
  case State::ReadingHead:
    if (headStarted()) {
      log::diag().debug("c{}.{} client {} closed in the middle of a request head",
                        context_.workerIndex, id_, clientAddress_);
    }
    closeNow(false);
    return;
  case State::Resolving:
  case State::Connecting:
  case State::Forwarding:
  case State::Authorizing:
    abortExchange(ProxyError::ClientClosed, exchange().phase,
                  status == uv::kEof ? "client closed the connection"
                                     : std::string("client ") + uv::errorName(status));
    return;
  case State::Draining:
    if (client_->writeQueueSize() == 0) {
      closeNow(false);
    }
    return;
  default:
    return;
  }
}

void ClientConnection::onStreamWriteError(uv::TcpStream&, int status) {
  if (state_ == State::Draining || state_ == State::ReadingHead) {
    closeNow(true);
    return;
  }
  abortExchange(ProxyError::ClientClosed, exchange().phase,
                std::string("write to client: ") + uv::errorName(status));
}

void ClientConnection::closeNow(bool reset) {
  if (state_ == State::Closed) {
    return;
  }
  transition(State::Closed);
  cancelUpstreamAttempt();
  authPending_.reset();
  if (tunnel_ && !tunnel_->ended()) {
    tunnel_->abort("connection closing"); // calls onTunnelEnded, which returns at once now
  }
  releaseUpstream(false);
  context_.connections.erase(this);
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
  if (status != uv::FilterStatus::WrongProtocol || state_ != State::ReadingHead) {
    log::diag().info("c{}.{} TLS with client {} failed: {}", context_.workerIndex, id_,
                     clientAddress_, detail);
    closeNow(false);
    return;
  }
  // Plain HTTP on the TLS port: answer in plain text, as nginx does, and say what to change.
  client_->removeFilter();
  resetExchange();
  exchange().id = nextRequestId();
  exchange().startMs = context_.loop.now();
  exchange().clientKeepAlive = false;
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

void ClientConnection::armTimer() {
  if (state_ == State::Closed) {
    return;
  }
  const auto& config = context_.config;
  const uint64_t now = context_.loop.now();
  uint64_t deadline = 0;
  switch (state_) {
  case State::ReadingHead:
    deadline = headStarted() ? headStartedAt_ + config.requestHeadTimeoutMs
                             : lastClientActivity_ + config.idleTimeoutMs;
    break;
  case State::Resolving:
    deadline = stateSince_ + config.dnsTimeoutMs;
    break;
  case State::Forwarding:
    if (exchange().requestComplete) {
      timer_->stop(); // the upstream's timers cover the wait
      return;
    }
    deadline = lastClientActivity_ + config.readTimeoutMs;
    break;
  case State::Tunneling:
    deadline = (tunnel_ ? tunnel_->lastActivity() : now) + config.idleTimeoutMs;
    break;
  case State::Draining:
    deadline = stateSince_ + kLingerMs;
    break;
  default:
    timer_->stop();
    return;
  }
  if (releaseAt_ != 0) {
    deadline = std::min(deadline, releaseAt_);
  }
  timer_->start(deadline > now ? deadline - now : 0);
}

void ClientConnection::onTimer(uv::Timer&) {
  const auto& config = context_.config;
  const uint64_t now = context_.loop.now();
  if (releaseAt_ != 0 && now >= releaseAt_) {
    releaseIfIdle(); // then the state's own deadline below
  }
  switch (state_) {
  case State::ReadingHead:
    if (headStarted() && now >= headStartedAt_ + config.requestHeadTimeoutMs) {
      resetExchange();
      exchange().id = nextRequestId();
      exchange().startMs = headStartedAt_;
      exchange().clientKeepAlive = false;
      respondError(ProxyError::RequestTimeout, Phase::ReadHead,
                   "request head not complete within " +
                       std::to_string(config.requestHeadTimeoutMs) + " ms");
      return;
    }
    if (!headStarted() && now >= lastClientActivity_ + config.idleTimeoutMs) {
      log::diag().debug("c{}.{} idle keep-alive connection closed", context_.workerIndex, id_);
      closeNow(false);
      return;
    }
    break;
  case State::Resolving:
    if (connector().resolving() && now >= stateSince_ + config.dnsTimeoutMs) {
      connector().failDnsTimeout();
      return;
    }
    break;
  case State::Forwarding:
    if (!exchange().requestComplete && now >= lastClientActivity_ + config.readTimeoutMs) {
      std::string detail =
          "request body stalled for " + std::to_string(config.readTimeoutMs) + " ms";
      exchange().clientKeepAlive = false;
      if (exchange().responseStarted) {
        abortExchange(ProxyError::RequestTimeout, Phase::Send, detail);
      } else {
        respondError(ProxyError::RequestTimeout, Phase::Send, detail);
      }
      return;
    }
    break;
  case State::Tunneling:
    if (tunnel_ && now >= tunnel_->lastActivity() + config.idleTimeoutMs) {
      tunnel_->abort("idle for " + std::to_string(config.idleTimeoutMs) + " ms");
      return;
    }
    break;
  case State::Draining:
    // The timer may also fire early for a scheduled release; only the linger deadline closes.
    if (now >= stateSince_ + kLingerMs) {
      closeNow(false);
      return;
    }
    break;
  default:
    return;
  }
  armTimer();
}

} // namespace gatehouse::proxy
