#include "gatehouse/proxy/request_state.h"

#include <algorithm>
#include <cassert>

#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/local_answer.h"

namespace gatehouse::proxy {

RequestWork::RequestWork(WorkerContext& context, uv::TcpStream& client, ReaderEvents& readerEvents,
                         ExchangeEvents& exchangeEvents, ExchangeRecord& record)
    : reader(context.requestLimits, readerEvents),
      exchange(context, exchangeEvents, client, record, flow) {}

RequestWork& RequestState::work(WorkerContext& context, uv::TcpStream& client,
                                ReaderEvents& readerEvents, ExchangeEvents& exchangeEvents) {
  if (!work_) {
    work_ = std::make_unique<RequestWork>(context, client, readerEvents, exchangeEvents, record());
  }
  return *work_;
}

ExchangeRecord& RequestState::record() {
  if (!record_) {
    record_ = std::make_unique<ExchangeRecord>();
  }
  return *record_;
}

RequestFlow& RequestState::flow() {
  assert(work_ && "the flow exists with the request's work");
  return work_->flow;
}

const RequestFlow& RequestState::flow() const {
  assert(work_ && "the flow exists with the request's work");
  return work_->flow;
}

const http::RequestHead* RequestState::head() const {
  return work_ ? &work_->reader.parser().request() : nullptr;
}

void RequestState::resetExchange() {
  if (work_) {
    work_->exchange.reset();
    work_->policyRun.reset(); // cancels a check still in flight
    work_->request = RequestDetail{};
    work_->flow = RequestFlow{};
    work_->responseTakenSeen = 0;
    work_->responseLookedAt = 0;
  }
  record() = ExchangeRecord{};
}

void RequestState::cancelUpstream() {
  if (work_) {
    work_->exchange.cancel();
  }
}

void RequestState::stop() {
  cancelUpstream();
  if (work_) {
    work_->policyRun.reset();
  }
}

void RequestState::dropKept() {
  if (work_) {
    work_->reader.takeKept();
  }
}

bool RequestState::betweenRequests(ConnectionState state) const {
  return state == ConnectionState::ReadingHead &&
         (!work_ || (!work_->reader.hasKept() && !work_->reader.parser().headStarted() &&
                     !work_->reader.parser().inBody()));
}

bool RequestState::finishBodyless() {
  if (!work_) {
    return false;
  }
  RequestFlow& flow = work_->flow;
  if (!flow.requestComplete && !work_->request.facts.isConnect) {
    flow.requestComplete = work_->reader.finishBodyless();
  }
  return flow.requestComplete;
}

bool RequestState::keepAfterAnswer(errors::ProxyError error) {
  if (!work_ || !work_->flow.clientKeepAlive) {
    return false;
  }
  const bool isConnect = work_->request.facts.isConnect;
  if (keepRuleFor(error) == KeepRule::BodylessOnly) {
    return !isConnect && finishBodyless();
  }
  if (!isConnect && finishBodyless()) {
    return true;
  }
  // A client waiting for 100 Continue may or may not send its body after a final answer:
  // nothing could tell the body from the next request, so such a connection closes.
  if (work_->flow.expectContinue) {
    return false;
  }
  return work_->reader.discardRefused(isConnect, kMaxDiscardBytes);
}

void RequestState::releaseIfIdle(ConnectionState state) {
  releaseAt_ = 0;
  const bool idle = work_ && betweenRequests(state);
  if (idle || state == ConnectionState::Tunneling) {
    work_.reset();
    if (idle) {
      record_.reset();
    }
  }
}

void RequestState::clear() {
  work_.reset();
  record_.reset();
}

void RequestState::fillClock(ConnectionClock& clock) const {
  clock.headStarted = headStarted();
  clock.requestComplete = work_ && work_->flow.requestComplete;
  clock.expectContinue = work_ && work_->flow.expectContinue;
  clock.upstreamFull = upstreamFull();
  clock.resolving = work_ && work_->exchange.resolving();
  clock.releaseAt = releaseAt_;
  if (work_ && record_) {
    // Bytes count in bytesOut once written to the stream; those still queued are not taken.
    clock.responseTaken = record_->bytesOut - std::min(record_->bytesOut, clock.writeQueue);
    clock.responseTakenSeen = work_->responseTakenSeen;
    clock.responseLookedAt = work_->responseLookedAt;
  }
}

void RequestState::responseLooked(uint64_t now, uint64_t taken) {
  if (work_) {
    work_->responseTakenSeen = taken;
    work_->responseLookedAt = now;
  }
}

} // namespace gatehouse::proxy
