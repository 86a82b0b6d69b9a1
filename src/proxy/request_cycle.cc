#include "gatehouse/proxy/request_cycle.h"

#include "gatehouse/http/header_rules.h"
#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/error_response.h"
#include "gatehouse/proxy/request_intake.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;
using policy::Verdict;

RequestCycle::RequestCycle(WorkerContext& context, uv::TcpStream* client)
    : context_(&context), client_(client), id_(context.nextConnectionId++) {
  uv::SocketAddress peer = client_->peerAddress();
  clientAddress_ = peer.toString();
  headStartedAt_ = context_->loop.now(); // the first request head is due from accept
}

RequestCycle::~RequestCycle() = default;

// ---- taking in a request ------------------------------------------------------------------------

void RequestCycle::startBareRecord(uint64_t startMs) {
  requests_.resetExchange();
  beginRecord(record(), nextRequestId(), startMs, requests_.head());
  flow().clientKeepAlive = false;
}

std::string RequestCycle::nextRequestId() {
  return std::to_string(context_->workerIndex) + "." + std::to_string(id_) + "." +
         std::to_string(++requestCount_);
}

ReadMode RequestCycle::readMode() const {
  return readModeFor(connectionState(), flow().requestComplete, flow().webSocket);
}

void RequestCycle::onReaderHeadBegins() {
  if (requestCount_ > 0) {
    headStartedAt_ = context_->loop.now(); // the first request's head is due from accept
  }
}

void RequestCycle::onReaderError(bool inBody) {
  if (!inBody) {
    startBareRecord(headStartedAt_);
    respondError(errorForParseStatus(parser().errorStatus()), Phase::ReadHead,
                 parser().errorReason());
    return;
  }
  flow().clientKeepAlive = false;
  failExchange(ProxyError::BadRequest, Phase::Send, "request body: " + parser().errorReason());
}

void RequestCycle::onReaderDiscardOverflow() {
  log::diag().info("c{}.{} refused request body over {} bytes; closing", context_->workerIndex, id_,
                   kMaxDiscardBytes);
  closeNow(false, ConnectionEnd::Drained);
}

void RequestCycle::onReaderHead(std::string_view sameRead) {
  const http::RequestHead& request = parser().request();
  requests_.resetExchange();
  beginRecord(record(), nextRequestId(), headStartedAt_, &request);
  flow() = flowOfHead(parser(), facts(), context_->draining, addressHost(clientAddress_));
  requestDetail().accept = std::string(request.headers.get("accept").value_or(""));
  enterState(ConnectionState::Deciding);

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
    if (!reader().feeding() && !isState(ConnectionState::Closed)) {
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

void RequestCycle::onPolicyVerdict(const Verdict& verdict) {
  if (!isState(ConnectionState::Deciding)) {
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

void RequestCycle::onReaderBody(std::string_view data) {
  record().bytesIn += data.size();
  flow().expectContinue = false; // the client sends its body: it waits no more
  exchange().sendBody(data);
}

void RequestCycle::onReaderTrailers(const http::HeaderList& trailers) {
  requestDetail().requestTrailers = trailers;
}

void RequestCycle::onReaderRequestEnd() {
  flow().requestComplete = true;
  flow().expectContinue = false;
  if (isState(ConnectionState::Forwarding)) {
    exchange().finishRequest(requestDetail().requestTrailers);
  }
}

// ---- the forward exchange -----------------------------------------------------------------------

void RequestCycle::startUpstream() {
  exchange().start();
  if (isState(ConnectionState::Deciding)) { // no pooled connection took it at once
    enterState(ConnectionState::Resolving);
    armTimer();
  }
}

void RequestCycle::onExchangeConnecting() {
  if (isState(ConnectionState::Deciding)) {
    enterState(ConnectionState::Resolving); // an address literal: no lookup, but the same path
  }
  if (isState(ConnectionState::Resolving)) {
    enterState(ConnectionState::Connecting);
  }
  armTimer();
}

void RequestCycle::onExchangeRetrying() {
  enterState(ConnectionState::Resolving);
  armTimer();
}

void RequestCycle::onExchangeSending() {
  enterState(ConnectionState::Forwarding);
  resumeReading();
}

void RequestCycle::onExchangeTunnel(uv::TcpStream* upstream, std::string_view toClient) {
  beginTunnel(upstream, toClient);
}

void RequestCycle::onExchangeComplete() {
  finishExchange();
}

void RequestCycle::onExchangeFailed(ProxyError error, Phase phase, std::string detail,
                                    std::string rcode, bool started) {
  if (started) {
    abortExchange(error, phase, std::move(detail));
  } else {
    ErrorAnswer answer(error, phase, std::move(detail));
    answer.rcode = std::move(rcode);
    respondError(std::move(answer));
  }
}

void RequestCycle::onExchangeUpstreamDrained() {
  updateClientReading();
}

// ---- answers and endings of a request -----------------------------------------------------------

bool RequestCycle::writeClient(std::initializer_list<std::string_view> buffers) {
  int rc = client_->write(buffers);
  if (rc == 0) {
    return true;
  }
  // libuv will not call back for this write: end the exchange here.
  if (!isState(ConnectionState::Closed)) {
    if (ExchangeRecord* rec = requests_.recordIfAny(); rec && !rec->id.empty()) {
      recordClientWriteFailure(*rec, rc);
      finishRecord();
    }
    closeNow(true, ConnectionEnd::ClientClosed);
  }
  return false;
}

void RequestCycle::finishExchange() {
  finishRecord();
  exchange().release();
  if (exchange().closeAfter() || !flow().clientKeepAlive || !flow().requestComplete) {
    beginDraining();
    return;
  }
  readNextRequest();
}

void RequestCycle::respondLocal(std::string response, int status, bool close) {
  record().status = status;
  if (!writeClient({response})) {
    return; // the record is finished without these bytes: they never went out
  }
  record().bytesOut += response.size();
  finishRecord();
  if (close) {
    beginDraining();
  } else {
    readNextRequest();
  }
}

void RequestCycle::respondError(ErrorAnswer answer) {
  if (isState(ConnectionState::Closed) || isState(ConnectionState::Draining)) {
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

void RequestCycle::respondError(ProxyError error, Phase phase, std::string detail) {
  respondError(ErrorAnswer(error, phase, std::move(detail)));
}

void RequestCycle::failExchange(ProxyError error, Phase phase, std::string detail) {
  if (requests_.responseStarted()) {
    abortExchange(error, phase, std::move(detail));
  } else {
    respondError(error, phase, std::move(detail));
  }
}

void RequestCycle::abortExchange(ProxyError error, Phase phase, std::string detail) {
  if (isState(ConnectionState::Closed)) {
    return;
  }
  const bool started = requests_.responseStarted();
  const CutEnding ending = cutExchange(record(), error, phase, std::move(detail), started,
                                       started && exchange().responseFramed());
  finishRecord();
  if (ending == CutEnding::Fin && !isState(ConnectionState::Draining)) {
    beginDraining();
    return;
  }
  closeNow(true, ConnectionEnd::ResponseAborted);
}

void RequestCycle::finishRecord() {
  if (ExchangeRecord* rec = requests_.recordIfAny()) {
    rec->finish(clientAddress_, context_->loop.now());
  }
}

} // namespace gatehouse::proxy
