#include "gatehouse/proxy/forward_exchange.h"

#include "gatehouse/policy/egress_step.h"
#include "gatehouse/proxy/egress.h"

#include <openssl/crypto.h>

#include "gatehouse/http/serializer.h"
#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/forwarder.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;

namespace {

// RFC 9110 9.2.2: only these may be sent again automatically.
bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

} // namespace

ParentRoute::~ParentRoute() {
  OPENSSL_cleanse(authorization.data(), authorization.size());
}

ForwardExchange::ForwardExchange(WorkerContext& context, ExchangeEvents& events,
                                 uv::TcpStream& client, ExchangeRecord& record,
                                 RequestFlow& request)
    : context_(context), events_(events), client_(client), record_(record), request_(request),
      connector_(context, *this) {}

ForwardExchange::~ForwardExchange() {
  cancel();
}

void ForwardExchange::start() {
  record_.phase = Phase::Dns;
  const policy::RequestFacts& facts = *request_.facts;
  // The route: a rule's via, else upstream_proxy, else direct.
  const std::string& via = facts.via.empty() ? context_.defaultParent : facts.via;
  parent_ = via.empty() || via == "direct" ? nullptr : context_.parent(via);
  if (parent_ != nullptr) {
    record_.parent = parent_->name;
    // Plain HTTP to the parent; it reaches the origin (TLS included) itself.
    if (!facts.isConnect && !retried_) {
      if (UpstreamConnection* pooled = connector_.takePooled(parent_->address, false)) {
        onConnectorReady(pooled);
        return;
      }
    }
    connector_.start(parent_->address, false, /*guarded=*/false);
    return;
  }
  const bool tls = !facts.isConnect && facts.uri.scheme == "https";
  // What is checked is what is connected to: every address after DNS (rebinding included),
  // and a pooled connection's address too (it was opened for another request's decision).
  auto guard = [&facts](const uv::SocketAddress& address) -> std::optional<UpstreamFailure> {
    policy::ConnectRefusal refusal = policy::checkConnect(facts, toIpAddress(address));
    if (!refusal.refused()) {
      return std::nullopt;
    }
    return UpstreamFailure{refusal.error, Phase::Connect, refusal.detail};
  };
  if (!facts.isConnect && !retried_) {
    if (UpstreamConnection* pooled = connector_.takePooled(facts.authority, tls)) {
      if (auto refusal = guard(pooled->address())) {
        pooled->close();
        fail(refusal->error, refusal->phase, refusal->detail);
        return;
      }
      onConnectorReady(pooled);
      return;
    }
  }
  connector_.setGuard(guard);
  connector_.start(facts.authority, tls);
}

void ForwardExchange::cancel() {
  connector_.cancel();
  releaseUpstream(false);
}

void ForwardExchange::reset() {
  cancel();
  responseTrailers_ = http::HeaderList{};
  heldHead_.clear();
  retried_ = false;
  parent_ = nullptr;
  tunnelViaParent_ = false;
  responseStarted_ = false;
  responseChunked_ = false;
  responseFramed_ = false;
  closeAfter_ = false;
}

void ForwardExchange::release() {
  releaseUpstream(request_.requestComplete);
  responseTrailers_ = http::HeaderList{};
}

void ForwardExchange::releaseUpstream(bool reuse) {
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

bool ForwardExchange::upstreamAboveHighWatermark() const {
  return upstream_ != nullptr && upstream_->aboveHighWatermark();
}

void ForwardExchange::onClientDrained() {
  if (upstream_ != nullptr) {
    upstream_->resumeReading();
  }
}

void ForwardExchange::fail(ProxyError error, Phase phase, std::string detail, std::string rcode) {
  events_.onExchangeFailed(error, phase, std::move(detail), std::move(rcode), responseStarted_);
}

// ---- request --------------------------------------------------------------------------------

bool ForwardExchange::sendUpstream(std::initializer_list<std::string_view> buffers) {
  if (upstream_ == nullptr) {
    return false;
  }
  if (int rc = upstream_->send(buffers); rc != 0) {
    // libuv will not call back for this write: the exchange fails here.
    UpstreamFailure failure{ProxyError::UpstreamClosed, Phase::Send,
                            std::string("write to upstream: ") + uv::errorName(rc)};
    onUpstreamFailed(*upstream_, failure);
    return false;
  }
  return true;
}

bool ForwardExchange::sendBody(std::string_view data) {
  const bool sent = request_.requestChunked
                        ? sendUpstream({http::chunkSizeLine(data.size()), data, http::kCrlf})
                        : sendUpstream({data});
  if (sent && upstream_->aboveHighWatermark()) {
    client_.stopRead();
    upstream_->notifyWhenDrained();
  }
  return sent;
}

void ForwardExchange::finishRequest(const http::HeaderList& trailers) {
  if (upstream_ == nullptr) {
    return;
  }
  if (request_.requestChunked && !sendUpstream({http::lastChunk(trailers)})) {
    return;
  }
  upstream_->requestSent();
  record_.phase = Phase::WaitHead;
}

void ForwardExchange::sendRequestHead() {
  UpstreamRequestPlan plan;
  plan.request = request_.head;
  plan.uri = &request_.facts->uri;
  plan.framing = request_.framing;
  plan.contentLength = request_.contentLength;
  plan.pseudonym = context_.pseudonym;
  plan.webSocket = request_.webSocket;
  plan.forwardedFor = context_.config.forwardedFor;
  plan.clientHost = request_.clientHost;
  if (parent_ != nullptr) {
    plan.absoluteForm = true;
    plan.proxyAuthorization = parent_->authorization;
  }
  if (!sendUpstream({buildUpstreamRequestHead(plan)})) {
    return;
  }
  if (request_.requestComplete) {
    upstream_->requestSent(); // a retried request: already fully read from the client
  }
}

void ForwardExchange::sendParentConnect() {
  // The tunnel is opened at the parent; the client hears 200 only once the parent said so.
  const std::string target = request_.facts->authority.hostPort();
  std::string head = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (!parent_->authorization.empty()) {
    head += "Proxy-Authorization: " + parent_->authorization + "\r\n";
  }
  head += "Via: 1.1 " + context_.pseudonym + "\r\n\r\n";
  tunnelViaParent_ = true;
  upstream_->beginExchange(false, /*tunnelRequest=*/true);
  record_.phase = Phase::WaitHead;
  // The CONNECT is complete at its head: bytes the client sends after it wait (kept by the
  // reader) for the tunnel, and are never read as a body.
  request_.requestComplete = true;
  UpstreamConnection* upstream = upstream_;
  if (sendUpstream({head})) {
    upstream_->requestSent();
  }
  if (upstream_ == upstream) {
    // The connection forwards now (the parent's answer may be a response with a body to
    // relay, with backpressure), not still connecting.
    events_.onExchangeSending();
  }
}

void ForwardExchange::failParentAuth(const http::ResponseHead& head) {
  record_.upstreamProxyStatus.clear();
  for (const http::Header& field : head.headers.fields()) {
    if (http::equalsIgnoreCase(field.name, "proxy-status")) {
      record_.upstreamProxyStatus +=
          (record_.upstreamProxyStatus.empty() ? "" : ", ") + field.value;
    }
  }
  const bool sentCredentials = !parent_->authorization.empty();
  log::diag().warn("{} parent proxy {} answered 407{}", record_.id, parent_->name,
                   sentCredentials ? " to our credentials" : " (no credentials configured)");
  releaseUpstream(false);
  fail(ProxyError::ParentAuthRequired, Phase::WaitHead,
       "parent proxy " + parent_->name +
           (sentCredentials ? " rejected our credentials" : " requires authentication"));
}

// ---- connecting ----------------------------------------------------------------------------

void ForwardExchange::onConnectorConnecting(const uv::SocketAddress& address) {
  record_.phase = Phase::Connect;
  record_.upstreamAddress = address.toString();
  events_.onExchangeConnecting();
}

void ForwardExchange::onConnectorReady(UpstreamConnection* upstream) {
  upstream_ = upstream;
  upstream_->setEvents(this);
  record_.upstreamAddress = upstream->addressText();
  record_.connectedMs = context_.loop.now();
  if (request_.facts->isConnect && parent_ != nullptr) {
    sendParentConnect();
    return;
  }
  if (request_.facts->isConnect) {
    record_.status = 200;
    responseStarted_ = true;
    static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (!events_.exchangeWrite({kEstablished})) {
      return;
    }
    uv::TcpStream* stream = upstream_->detachStream();
    upstream_ = nullptr;
    events_.onExchangeTunnel(stream, {});
    return;
  }
  upstream_->beginExchange(request_.isHead);
  record_.phase = Phase::Send;
  sendRequestHead();
  // A send that failed at once may have retried on another (pooled) connection, which then
  // reported its own start: only the connection this call began with reports here.
  if (upstream_ == upstream) {
    events_.onExchangeSending();
  }
}

void ForwardExchange::onConnectorFailed(const UpstreamFailure& failure) {
  std::string rcode;
  if (failure.error == ProxyError::DnsNotFound) {
    rcode = failure.detail == "ARES_ENODATA" ? "NOERROR" : "NXDOMAIN";
  }
  fail(failure.error, failure.phase, failure.detail, rcode);
}

void ForwardExchange::onUpstreamFailed(UpstreamConnection& upstream,
                                       const UpstreamFailure& failure) {
  if (upstream_ == &upstream) {
    releaseUpstream(false); // a send that failed at once: close it here
  }
  upstream_ = nullptr; // otherwise it closes itself after this call
  flushHeldHead();     // the client saw the head before the failure, as it would have unheld
  // A pooled connection the upstream closed while idle: retry once on a new connection, for a
  // complete, bodiless request with an idempotent method (RFC 9110 9.2.2), so nothing is lost
  // or done twice.
  if (!responseStarted_ && upstream.wasReused() && !upstream.receivedResponseBytes() &&
      failure.error == ProxyError::UpstreamClosed && !retried_ && request_.requestComplete &&
      request_.framing == http::BodyFraming::None && idempotent(request_.head->method)) {
    log::diag().debug("{} reused upstream {} was closed ({}); retrying on a new connection",
                      record_.id, upstream.addressText(), failure.detail);
    retried_ = true;
    events_.onExchangeRetrying(); // back to resolving and connecting
    start();
    return;
  }
  fail(failure.error, failure.phase, failure.detail);
}

// ---- response -------------------------------------------------------------------------------

void ForwardExchange::onUpstreamResponseHead(UpstreamConnection& upstream,
                                             const http::ResponseHead& head,
                                             std::string_view rest) {
  ClientResponseInput input;
  input.response = &head;
  input.requestWasHead = request_.isHead;
  input.clientVersionMinor = request_.clientMinor;
  input.pseudonym = context_.pseudonym;
  if (record_.firstByteMs == 0) {
    record_.firstByteMs = context_.loop.now();
  }
  if (parent_ != nullptr && head.status == 407) {
    failParentAuth(head);
    return;
  }
  if (tunnelViaParent_ && head.status >= 300) {
    // The parent refused the tunnel: its answer is relayed like any response, and the
    // connection closes after it (bytes the client sent for the tunnel could only be taken
    // for a next request).
    tunnelViaParent_ = false;
    request_.clientKeepAlive = false;
  } else if (tunnelViaParent_ && head.status >= 200) {
    // The parent's tunnel is open: ours is too.
    tunnelViaParent_ = false;
    record_.status = 200;
    responseStarted_ = true;
    static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (!events_.exchangeWrite({kEstablished})) {
      return;
    }
    uv::TcpStream* stream = upstream_->detachStream();
    upstream_ = nullptr;
    events_.onExchangeTunnel(stream, rest);
    return;
  }
  if (head.status == 101) {
    if (!request_.webSocket) {
      fail(ProxyError::UpstreamProtocolError, Phase::WaitHead,
           "101 Switching Protocols without an upgrade request");
      return;
    }
    input.switchingProtocols = true;
    ClientResponsePlan plan = buildClientResponseHead(input);
    record_.status = 101;
    responseStarted_ = true;
    if (!events_.exchangeWrite({plan.head})) {
      return;
    }
    uv::TcpStream* stream = upstream_->detachStream();
    upstream_ = nullptr;
    events_.onExchangeTunnel(stream, rest);
    return;
  }
  if (head.status < 200) {
    // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients only.
    if (head.status == 100) {
      request_.expectContinue = false; // the client may send its body now
    }
    if (request_.clientMinor >= 1) {
      events_.exchangeWrite({buildClientResponseHead(input).head});
    }
    return;
  }
  input.framing = upstream.responseFraming();
  input.contentLength = upstream.responseContentLength();
  // An early response to a request still being sent: the connection cannot be reused.
  input.clientKeepAlive =
      request_.clientKeepAlive && request_.requestComplete && !request_.webSocket;
  ClientResponsePlan plan = buildClientResponseHead(input);
  record_.status = head.status;
  responseStarted_ = true;
  responseChunked_ = plan.chunked;
  responseFramed_ = plan.chunked || input.framing != http::BodyFraming::UntilClose;
  closeAfter_ = plan.closeAfter;
  record_.phase = Phase::ReadBody;
  heldHead_ = std::move(plan.head); // counted in bytesOut once written
}

void ForwardExchange::flushHeldHead() {
  if (!heldHead_.empty()) {
    std::string head;
    head.swap(heldHead_);
    if (events_.exchangeWrite({head})) {
      record_.bytesOut += head.size();
    }
  }
}

void ForwardExchange::onUpstreamReadProcessed(UpstreamConnection& upstream) {
  flushHeldHead(); // no body in this read (or not yet): the head must not wait for one
  if (upstream_ != &upstream) {
    return;
  }
  // The rest of a Content-Length body may go socket to socket; a body re-framed as chunked
  // for the client must pass through here.
  if (responseChunked_) {
    upstream.stopSplicing();
  } else {
    upstream.spliceBodyTo(client_);
  }
}

void ForwardExchange::onUpstreamBodySpliced(UpstreamConnection& upstream, uint64_t bytes) {
  record_.bytesOut += bytes;
  context_.counters.splicedBodyBytes.fetch_add(bytes, std::memory_order_relaxed);
  if (client_.aboveHighWatermark()) {
    upstream.pauseReading();
    client_.notifyWhenDrained();
  }
}

void ForwardExchange::onUpstreamBody(UpstreamConnection& upstream, std::string_view data) {
  // With a held-back head, empty when there is none (TcpStream::write skips empty buffers).
  std::string head;
  head.swap(heldHead_);
  const bool written =
      responseChunked_
          ? events_.exchangeWrite({head, http::chunkSizeLine(data.size()), data, http::kCrlf})
          : events_.exchangeWrite({head, data});
  if (!written) {
    return; // the connection ended the exchange; its record counts only what went out
  }
  record_.bytesOut += head.size() + data.size();
  if (client_.aboveHighWatermark()) {
    upstream.pauseReading();
    client_.notifyWhenDrained();
  }
}

void ForwardExchange::onUpstreamTrailers(UpstreamConnection&, const http::HeaderList& trailers) {
  responseTrailers_ = trailers;
}

void ForwardExchange::onUpstreamResponseComplete(UpstreamConnection&) {
  flushHeldHead();
  if (upstream_ == nullptr) {
    return; // the client write failed: the connection has ended the exchange
  }
  if (responseChunked_ && !events_.exchangeWrite({http::lastChunk(responseTrailers_)})) {
    return;
  }
  events_.onExchangeComplete();
}

void ForwardExchange::onUpstreamDrained(UpstreamConnection&) {
  events_.onExchangeUpstreamDrained();
}

} // namespace gatehouse::proxy
