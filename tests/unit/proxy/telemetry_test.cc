// Per-worker telemetry: counting a finished exchange, the histogram buckets, the rule table
// bound, and the per-client limit on diagnostic lines.

#include <catch2/catch.hpp>
#include <set>

#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/telemetry.h"

using namespace gatehouse::proxy;
using gatehouse::auth::Refusal;
using gatehouse::errors::Phase;
using gatehouse::errors::ProxyError;

namespace {
ExchangeRecord record(const std::string& method, int status, uint64_t start, uint64_t end) {
  ExchangeRecord r;
  r.id = "0.1.1";
  r.method = method;
  r.target = "http://a.test/";
  r.status = status;
  r.startMs = start;
  r.decidedMs = start + 1;
  r.endMs = end;
  return r;
}
} // namespace

TEST_CASE("telemetry: an exchange is counted by method, status, error and times", "[telemetry]") {
  SharedCounters shared;
  WorkerTelemetry t(shared, {});
  ExchangeRecord ok = record("GET", 200, 100, 130);
  ok.connectedMs = 103;
  ok.firstByteMs = 120;
  ok.bytesIn = 50;
  ok.bytesOut = 500;
  t.onFinished(ok, "127.0.0.1:1", 1);
  ExchangeRecord denied = record("GET", 407, 200, 200);
  denied.decidedMs = 0;
  denied.fail(ProxyError::AuthRequired, Phase::Auth, EndCause::Refused,
              "auth: wrong password (bcrypt)");
  t.onFinished(denied, "127.0.0.1:1", 2);
  t.onFinished(record("CONNECT", 200, 0, 5000), "127.0.0.1:2", 3);

  CHECK(t.requests(methodClass("GET"), statusClass(200)) == 1);
  CHECK(t.requests(methodClass("GET"), statusClass(407)) == 1);
  CHECK(t.requests(methodClass("CONNECT"), statusClass(200)) == 1);
  CHECK(t.errors(ProxyError::AuthRequired) == 1);
  CHECK(t.authRefusals(static_cast<size_t>(Refusal::WrongPassword)) == 1);
  CHECK(t.clientBytesIn() == 50);
  CHECK(t.clientBytesOut() == 500);
  CHECK(t.connectTime().count.get() == 1);
  CHECK(t.connectTime().buckets[1].get() == 1); // 3 ms: in (1, 5]
  CHECK(t.firstByteTime().sumMs.get() == 20);
  CHECK(t.totalTime().count.get() == 3);
  CHECK(t.totalTime().buckets[10].get() == 1); // 5000 ms: in (2500, 5000]
  auto rules = t.ruleDecisions();
  REQUIRE(rules.size() == 2);
  CHECK(rules[0].rule == "default");
  CHECK(rules[0].allowed == 2);
  CHECK(rules[1].rule == "auth_required");
  CHECK(rules[1].refused == 1);

  auto recent = t.recent(0);
  REQUIRE(recent.size() == 3);
  CHECK(recent[1].authReason == "wrong password");
  CHECK(recent[1].error == "auth_required");
  CHECK(recent[1].end == "PA");
  CHECK(recent[0].connectedMs == 3);
  CHECK(recent[0].decidedMs == 1);
  CHECK(t.recent(recent[1].seq).size() == 1);
}

TEST_CASE("telemetry: the ring of recent exchanges and the rule table are bounded", "[telemetry]") {
  SharedCounters shared;
  WorkerTelemetry t(shared, {});
  for (size_t i = 0; i < WorkerTelemetry::kRecentCapacity + 10; ++i) {
    ExchangeRecord r = record("GET", 200, 0, 1);
    r.rule = "rule-" + std::to_string(i);
    t.onFinished(r, "127.0.0.1:1", i);
  }
  CHECK(t.recent(0).size() == WorkerTelemetry::kRecentCapacity);
  auto rules = t.ruleDecisions();
  CHECK(rules.size() == WorkerTelemetry::kMaxRules + 1);
  CHECK(rules.back().rule == "other");
  CHECK(rules.back().allowed == WorkerTelemetry::kRecentCapacity + 10 - WorkerTelemetry::kMaxRules);
}

TEST_CASE("telemetry: auth refusal reasons come from the record's detail", "[telemetry]") {
  CHECK(refusalFromDetail("auth: no credentials") == Refusal::NoCredentials);
  CHECK(refusalFromDetail("auth: unsupported scheme (Digest)") == Refusal::UnsupportedScheme);
  CHECK(refusalFromDetail("auth: throttled after repeated wrong passwords") == Refusal::Throttled);
  CHECK(refusalFromDetail("auth: wrong passwordX") == Refusal::None);
  CHECK(refusalFromDetail("connect port 25 denied") == Refusal::None);
  CHECK(refusalLabel(Refusal::UnknownUser) == "unknown_user");
}

TEST_CASE("telemetry: every auth refusal has its own metric label", "[telemetry]") {
  // A refusal added to the enum but not here was counted as "none", or not at all (the helper
  // and backend refusals were missing from the metrics until this test).
  std::set<std::string_view> labels;
  for (size_t r = 1; r < kRefusalCount; ++r) {
    auto refusal = static_cast<Refusal>(r);
    INFO(describe(refusal));
    CHECK(refusalLabel(refusal) != "none");
    CHECK(labels.insert(refusalLabel(refusal)).second);
    CHECK(refusalFromDetail(std::string("auth: ") + describe(refusal)) == refusal);
  }
  CHECK(kRefusalCount == static_cast<size_t>(Refusal::BackendUnavailable) + 1);
}

TEST_CASE("telemetry: diagnostic lines are limited per client address", "[telemetry]") {
  SharedCounters shared;
  DiagnosticLimit limit;
  limit.linesPerWindow = 3;
  limit.windowMs = 1000;
  limit.maxClients = 2;
  WorkerTelemetry t(shared, limit);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    allowed += t.allowDiagnostic("10.0.0.1:" + std::to_string(1000 + i), 5000) ? 1 : 0;
  }
  CHECK(allowed == 3); // the port does not matter: the address is the key
  CHECK(t.suppressedLines() == 97);
  CHECK(t.allowDiagnostic("[::1]:5", 5000)); // another client has its own budget
  // Past maxClients, everyone else shares one entry.
  for (int i = 0; i < 10; ++i) {
    t.allowDiagnostic("10.0.0." + std::to_string(10 + i) + ":1", 5000);
  }
  CHECK(t.suppressedLines() == 97 + 7);
  // A new window: the budget is back.
  CHECK(t.allowDiagnostic("10.0.0.1:9", 6000));
  t.flushSuppressed(7000, true);
  CHECK(t.allowDiagnostic("10.0.0.1:9", 7000));
}
