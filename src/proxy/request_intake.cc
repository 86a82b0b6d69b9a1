#include "gatehouse/proxy/request_intake.h"

#include "gatehouse/http/header_rules.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/request_reader.h"
#include "gatehouse/tls/tls.h"

namespace gatehouse::proxy {

std::string_view addressHost(std::string_view address) {
  std::string_view host = address;
  size_t colon = host.rfind(':');
  host = colon == std::string_view::npos ? host : host.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

void beginRecord(ExchangeRecord& record, std::string id, uint64_t startMs,
                 const http::RequestHead* head) {
  record.id = std::move(id);
  record.startMs = startMs;
  if (head != nullptr) {
    record.method = head->method;
    record.target = http::withoutUserinfo(head->target);
  }
}

RequestFlow flowOfHead(const http::MessageParser& parser, const policy::RequestFacts& facts,
                       bool draining, std::string_view clientHost) {
  const http::RequestHead& request = parser.request();
  RequestFlow flow;
  flow.clientMinor = request.versionMinor;
  flow.clientKeepAlive = !draining && !http::wantsClose(request.headers, request.versionMinor);
  flow.isHead = request.method == "HEAD";
  if (auto expect = request.headers.get("expect");
      expect && http::equalsIgnoreCase(http::trimOws(*expect), "100-continue") && parser.inBody() &&
      parser.framing() != http::BodyFraming::None) {
    flow.expectContinue = true;
  }
  flow.head = &request;
  flow.facts = &facts;
  flow.framing = parser.framing();
  flow.contentLength = parser.contentLength();
  flow.clientHost = clientHost;
  return flow;
}

std::optional<ErrorAnswer> refuseSameRead(const http::MessageParser& parser,
                                          std::string_view sameRead) {
  if (parser.framing() != http::BodyFraming::Chunked || sameRead.empty() ||
      plausibleChunkStart(sameRead)) {
    return std::nullopt;
  }
  return ErrorAnswer(errors::ProxyError::BadRequest, errors::Phase::ReadHead,
                     "request body: invalid chunk size line");
}

policy::ClientIdentity identityOf(std::string_view address, const tls::Session* session) {
  policy::ClientIdentity identity;
  identity.address = address;
  identity.host = addressHost(address);
  if (session != nullptr) {
    identity.tlsListener = true;
    identity.certificate = session->clientCertificate();
    identity.certificateSubject =
        identity.certificate != 0 ? session->clientSubject() : std::string();
  }
  return identity;
}

void recordDecision(ExchangeRecord& record, const policy::RequestFacts& facts, uint64_t nowMs) {
  record.decidedMs = nowMs;
  record.user = facts.user;
  record.claimedUser = facts.claimedUser;
  record.rule = facts.rule;
  record.wouldDeny = facts.wouldDeny;
}

ErrorAnswer refusalAnswer(const policy::Verdict& verdict) {
  ErrorAnswer answer(verdict.error, verdict.phase, verdict.detail);
  answer.publicDetail = verdict.publicDetail;
  answer.fields = verdict.fields;
  return answer;
}

} // namespace gatehouse::proxy
