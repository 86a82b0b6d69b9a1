// The request-policy chain without a loop or a socket.

#include <catch2/catch.hpp>

#include "gatehouse/policy/request_policy.h"

using namespace gatehouse;
using namespace gatehouse::policy;
using errors::ProxyError;

namespace {

http::RequestHead head(std::string method, std::string target,
                       std::vector<std::pair<std::string, std::string>> fields = {{"Host", "x"}},
                       int minor = 1) {
  http::RequestHead h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.versionMajor = 1;
  h.versionMinor = minor;
  for (auto& [name, value] : fields) {
    h.headers.add(name, value);
  }
  return h;
}

struct Harness {
  PolicyChain chain;
  ClientIdentity client;
  RequestFacts facts;
  std::unique_ptr<AuthMemo> memo;
  Harness() {
    StandardPolicyOptions options;
    options.pseudonym = "gh";
    options.connectPortAllowed = [](uint16_t port) { return port == 443; };
    options.connectPortsDescription = [] { return std::string("443"); };
    addStandardSteps(chain, options);
    client.address = "127.0.0.1:4000";
    client.host = "127.0.0.1";
  }
  Verdict run(const http::RequestHead& request) {
    facts = RequestFacts{};
    PolicyRun policyRun(chain, request, client, facts, memo, 0);
    auto v = policyRun.start([](const Verdict&) { FAIL("no step is asynchronous here"); });
    REQUIRE(v);
    return *v;
  }
};

} // namespace

TEST_CASE("policy: a plain absolute-form GET continues with its destination", "[policy]") {
  Harness h;
  Verdict v = h.run(head("GET", "http://a.test:8080/x"));
  CHECK(v.kind == Verdict::Kind::Continue);
  CHECK(h.facts.authority.host == "a.test");
  CHECK(h.facts.authority.port == 8080);
  CHECK_FALSE(h.facts.isConnect);
}

TEST_CASE("policy: targets the proxy cannot read are refused first", "[policy]") {
  Harness h;
  CHECK(h.run(head("GET", "/x")).error == ProxyError::NotAProxyRequest);
  CHECK(h.run(head("CONNECT", "a.test")).error == ProxyError::BadRequest);
  CHECK(h.run(head("GET", "*")).error == ProxyError::BadRequest);
  Verdict options = h.run(head("OPTIONS", "*"));
  CHECK(options.kind == Verdict::Kind::Answer);
  CHECK(options.fields.get("allow").has_value());
}

TEST_CASE("policy: Host rules (RFC 9112 3.2)", "[policy]") {
  Harness h;
  CHECK(h.run(head("GET", "http://a.test/", {})).error == ProxyError::BadRequest);
  CHECK(h.run(head("GET", "http://a.test/", {}, 0)).kind == Verdict::Kind::Continue);
  CHECK(h.run(head("CONNECT", "a.test:443", {})).kind == Verdict::Kind::Continue);
  CHECK(h.run(head("GET", "http://a.test/", {{"Host", "a"}, {"host", "a"}})).error ==
        ProxyError::BadRequest);
  CHECK(validHostValue("a.test"));
  CHECK(validHostValue("a.test:8080"));
  CHECK(validHostValue("[::1]:80"));
  CHECK(validHostValue("127.0.0.1"));
  for (const char* bad : {"", "a b", "x@h", "h/x", "h, h", "h:", "h:99999x", "[::1", "[zz]"}) {
    INFO(bad);
    CHECK_FALSE(validHostValue(bad));
  }
}

TEST_CASE("policy: CONNECT ports, Via loops, Expect and Max-Forwards", "[policy]") {
  Harness h;
  Verdict port = h.run(head("CONNECT", "a.test:25"));
  CHECK(port.error == ProxyError::ConnectPortDenied);
  CHECK(port.detail.find("port 25") != std::string::npos);
  CHECK(h.run(head("CONNECT", "a.test:443")).kind == Verdict::Kind::Continue);
  CHECK(h.run(head("GET", "http://a.test/", {{"Host", "x"}, {"Via", "1.1 gh"}})).error ==
        ProxyError::LoopDetected);
  CHECK(h.run(head("GET", "http://a.test/", {{"Host", "x"}, {"Expect", "magic"}})).error ==
        ProxyError::ExpectationFailed);
  CHECK(h.run(head("GET", "http://a.test/", {{"Host", "x"}, {"Expect", "100-continue"}})).kind ==
        Verdict::Kind::Continue);
  Verdict trace = h.run(head("TRACE", "http://a.test/", {{"Host", "x"}, {"Max-Forwards", "0"}}));
  CHECK(trace.error == ProxyError::MethodNotAllowed);
  Verdict options =
      h.run(head("OPTIONS", "http://a.test/", {{"Host", "x"}, {"Max-Forwards", "0"}}));
  CHECK(options.kind == Verdict::Kind::Answer);
}

TEST_CASE("policy: a TLS listener with a client CA wants a verified certificate", "[policy]") {
  PolicyChain chain;
  StandardPolicyOptions options;
  options.requireClientCertificate = true;
  addStandardSteps(chain, options);
  ClientIdentity client;
  client.tlsListener = true;
  RequestFacts facts;
  std::unique_ptr<AuthMemo> memo;
  auto request = head("GET", "http://a.test/");
  auto verdictFor = [&](int certificate) {
    client.certificate = certificate;
    PolicyRun run(chain, request, client, facts, memo, 0);
    return *run.start({});
  };
  CHECK(verdictFor(0).error == ProxyError::ClientCertRequired);
  CHECK(verdictFor(-1).error == ProxyError::ClientCertInvalid);
  CHECK(verdictFor(1).kind == Verdict::Kind::Continue);
}

namespace {
// A step that answers later, as the auth step does with a slow hash.
class LaterStep final : public PolicyStep {
public:
  std::string_view name() const override { return "later"; }
  Verdict check(PolicyRun& run) override {
    waiting = &run;
    return Verdict::pending();
  }
  PolicyRun* waiting = nullptr;
};
} // namespace

TEST_CASE("policy: a pending step resumes the chain from the next step", "[policy]") {
  PolicyChain chain;
  auto later = std::make_unique<LaterStep>();
  LaterStep* step = later.get();
  chain.add(makeTargetStep());
  chain.add(std::move(later));
  chain.add(makeViaLoopStep("gh"));
  ClientIdentity client;
  RequestFacts facts;
  std::unique_ptr<AuthMemo> memo;
  auto request = head("GET", "http://a.test/", {{"Host", "x"}, {"Via", "1.1 gh"}});
  PolicyRun run(chain, request, client, facts, memo, 0);
  std::optional<Verdict> final;
  CHECK_FALSE(run.start([&](const Verdict& v) { final = v; }).has_value());
  REQUIRE(step->waiting == &run);
  CHECK(run.currentStep() == "later");
  CHECK_FALSE(final);
  run.resume(Verdict::next());
  REQUIRE(final);
  CHECK(final->error == ProxyError::LoopDetected); // the step after the pending one ran
}

TEST_CASE("policy: the auth memo compares in constant time and wipes itself", "[policy]") {
  AuthMemo memo;
  memo.set("Basic YWxpY2U6cHc=", "alice", 1, 100);
  CHECK(memo.matches("Basic YWxpY2U6cHc="));
  CHECK_FALSE(memo.matches("Basic YWxpY2U6cHc"));
  CHECK_FALSE(memo.matches("Basic YWxpY2U6cHX="));
  memo.set("Basic Ym9iOnB3", "bob", 1, 100);
  CHECK(memo.user == "bob");
  CHECK(memo.matches("Basic Ym9iOnB3"));
}
