#include "gatehouse/proxy/local_answer.h"

#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/error_response.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

using errors::ProxyError;

KeepRule keepRuleFor(ProxyError error) {
  switch (error) {
  case ProxyError::AuthRequired:
  case ProxyError::AuthThrottled:
  case ProxyError::AuthBackendUnavailable:
    return KeepRule::DiscardBody;
  default:
    return KeepRule::BodylessOnly;
  }
}

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

AnswerContext answerContextFor(errors::StatusMode statusMode, std::string_view pseudonym,
                               const http::Authority& authority, std::string_view accept,
                               uint64_t nowMs) {
  AnswerContext context;
  context.statusMode = statusMode;
  context.pseudonym = pseudonym;
  context.target = authority.host.empty() ? "" : authority.hostPort();
  context.accept = accept;
  context.nowMs = nowMs;
  return context;
}

std::string answerError(ExchangeRecord& record, ErrorAnswer answer, const AnswerContext& context,
                        bool close) {
  ErrorResponse response;
  response.error = answer.error;
  response.statusMode = context.statusMode;
  response.pseudonym = context.pseudonym;
  response.detail = answer.publicDetail.empty() ? answer.detail : answer.publicDetail;
  response.requestId = record.id;
  response.target = context.target;
  response.upstream = record.upstreamAddress;
  response.rcode = std::move(answer.rcode);
  response.elapsedMs = context.nowMs - record.startMs;
  response.accept = context.accept;
  response.close = close;
  response.upstreamProxyStatus = record.upstreamProxyStatus;
  response.extraFields = std::move(answer.fields);
  // A 405 says which methods would do (RFC 9110 15.5.6), whoever refused.
  if (answer.error == ProxyError::MethodNotAllowed && !response.extraFields.get("allow")) {
    response.extraFields.add("Allow", std::string(policy::kAllowedMethods));
  }
  record.status = errors::clientStatus(answer.error, context.statusMode);
  record.fail(answer.error, answer.phase, endCauseFor(answer.error), std::move(answer.detail));
  return renderErrorResponse(response);
}

CutEnding cutExchange(ExchangeRecord& record, ProxyError error, errors::Phase phase,
                      std::string detail, bool responseStarted, bool responseFramed) {
  record.fail(error, phase, endCauseFor(error), std::move(detail));
  if (error == ProxyError::ClientClosed) {
    record.status = 499;
    return CutEnding::Reset; // nobody is left to read a FIN
  }
  record.aborted = true;
  return responseStarted && responseFramed ? CutEnding::Fin : CutEnding::Reset;
}

void recordClientWriteFailure(ExchangeRecord& record, int status) {
  record.fail(ProxyError::ClientClosed, record.phase, EndCause::ClientAbort,
              std::string("write to client: ") + uv::errorName(status));
  if (record.status == 0) {
    record.status = 499;
  }
}

} // namespace gatehouse::proxy
