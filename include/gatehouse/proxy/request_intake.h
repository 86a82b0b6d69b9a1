#pragma once
// What a client connection takes from a request head, worked out without a socket or a loop:
// the flow the exchange reads (keep-alive, HEAD, Expect: 100-continue, framing), the record's
// first fields, who asks (policy::ClientIdentity), whether the body bytes read with a chunked
// head can begin a chunk at all, and what the record and the answer take from a verdict. The
// connection keeps the order of these steps and every state change.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/http/parser.h"
#include "gatehouse/policy/request_policy.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/forward_exchange.h"
#include "gatehouse/proxy/local_answer.h"

namespace gatehouse::tls {
class Session;
} // namespace gatehouse::tls

namespace gatehouse::proxy {

// The address without its port ("192.0.2.1:80" -> "192.0.2.1", "[::1]:80" -> "::1"): the auth
// throttling key and the forwarded_for value. A view into `address`, which a connection keeps
// as its one string rather than a second one.
std::string_view addressHost(std::string_view address);

// Starts a request's record: its id and start time, and when a head was read (`head` not null)
// its method and its target without userinfo (never a password in a log line).
void beginRecord(ExchangeRecord& record, std::string id, uint64_t startMs,
                 const http::RequestHead* head);

// The flow of the request whose head `parser` has just completed: keep-alive unless the client
// asks to close or the worker drains; Expect: 100-continue counts only for a request that has a
// body to wait with. `facts` and `clientHost` must outlive the request.
RequestFlow flowOfHead(const http::MessageParser& parser, const policy::RequestFacts& facts,
                       bool draining, std::string_view clientHost);

// The 400 for body bytes read with a chunked head that cannot begin a chunk-size line (checked
// before anything goes upstream, as Squid and Apache do), or nullopt.
std::optional<ErrorAnswer> refuseSameRead(const http::MessageParser& parser,
                                          std::string_view sameRead);

// Who asks: `address` and the host cut from it (views into it), and on the TLS listener
// (`session` not null) the client certificate's result and subject.
policy::ClientIdentity identityOf(std::string_view address, const tls::Session* session);

// What the record keeps once the policy chain decided: when, the user (or the name refused
// credentials claimed), the rule and a report-mode denial.
void recordDecision(ExchangeRecord& record, const policy::RequestFacts& facts, uint64_t nowMs);

// A refusal verdict as the error answer the connection writes.
ErrorAnswer refusalAnswer(const policy::Verdict& verdict);

} // namespace gatehouse::proxy
