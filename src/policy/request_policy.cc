#include "gatehouse/policy/request_policy.h"

#include <algorithm>
#include <cctype>
#include <openssl/crypto.h>

#include "gatehouse/auth/authenticator.h"
#include "gatehouse/http/header_rules.h"

namespace gatehouse::policy {

using errors::Phase;
using errors::ProxyError;

AuthMemo::~AuthMemo() {
  OPENSSL_cleanse(header.data(), header.size());
}

bool AuthMemo::matches(std::string_view presented) const {
  // Length is not secret (the client sent it); the bytes are compared in constant time.
  return presented.size() == header.size() &&
         CRYPTO_memcmp(presented.data(), header.data(), header.size()) == 0;
}

void AuthMemo::set(std::string_view presented, std::string newUser, uint64_t newGeneration,
                   uint64_t newExpiresAt) {
  OPENSSL_cleanse(header.data(), header.size());
  header.assign(presented);
  user = std::move(newUser);
  generation = newGeneration;
  expiresAt = newExpiresAt;
}

Verdict Verdict::refuse(ProxyError error, Phase phase, std::string detail,
                        std::string publicDetail) {
  Verdict v;
  v.kind = Kind::Refuse;
  v.error = error;
  v.phase = phase;
  v.detail = std::move(detail);
  v.publicDetail = std::move(publicDetail);
  return v;
}

Verdict Verdict::answer(int status, http::HeaderList fields, std::string body,
                        std::string contentType) {
  Verdict v;
  v.kind = Kind::Answer;
  v.status = status;
  v.fields = std::move(fields);
  v.body = std::move(body);
  v.contentType = std::move(contentType);
  return v;
}

std::vector<std::string_view> PolicyChain::names() const {
  std::vector<std::string_view> out;
  for (const auto& step : steps_) {
    out.push_back(step->name());
  }
  return out;
}

std::optional<Verdict> PolicyRun::start(Done done) {
  done_ = std::move(done);
  return runFrom(0);
}

std::optional<Verdict> PolicyRun::runFrom(size_t index) {
  for (index_ = index; index_ < chain_.size(); ++index_) {
    Verdict verdict = chain_.step(index_).check(*this);
    if (verdict.kind == Verdict::Kind::Continue) {
      continue;
    }
    if (verdict.kind == Verdict::Kind::Pending) {
      return std::nullopt;
    }
    return verdict;
  }
  return Verdict::next();
}

void PolicyRun::resume(const Verdict& verdict) {
  pending_.reset();
  std::optional<Verdict> final = verdict;
  if (verdict.kind == Verdict::Kind::Continue) {
    final = runFrom(index_ + 1);
  }
  if (final && done_) {
    // `done` may destroy this run: nothing of it is touched afterwards.
    Done done = done_;
    done(*final);
  }
}

std::string_view PolicyRun::currentStep() const {
  return index_ < chain_.size() ? chain_.step(index_).name() : std::string_view();
}

bool validHostValue(std::string_view value) {
  if (value.empty()) {
    return false;
  }
  std::string_view host = value;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    for (char c : host.substr(1, close - 1)) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) {
        return false;
      }
    }
    host = host.substr(close + 1);
    if (host.empty()) {
      return true;
    }
    if (host.front() != ':') {
      return false;
    }
    host = host.substr(1);
    return !host.empty() && host.size() <= 5 &&
           host.find_first_not_of("0123456789") == std::string_view::npos;
  }
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
    host = host.substr(0, colon);
  }
  if (host.empty()) {
    return false;
  }
  // reg-name: unreserved / pct-encoded / sub-delims, minus "," (a list is never one host).
  for (char c : host) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '!' ||
        c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' ||
        c == ';' || c == '=') {
      continue;
    }
    return false;
  }
  return true;
}

namespace {

// A TLS listener with a client CA wants a verified certificate before anything else.
class ClientCertificateStep final : public PolicyStep {
public:
  std::string_view name() const override { return "client-certificate"; }
  Verdict check(PolicyRun& run) override {
    const ClientIdentity& client = run.client();
    if (!client.tlsListener || client.certificate == 1) {
      return Verdict::next();
    }
    if (client.certificate == 0) {
      return Verdict::refuse(ProxyError::ClientCertRequired, Phase::Tls, "no client certificate");
    }
    return Verdict::refuse(ProxyError::ClientCertInvalid, Phase::Tls,
                           "client certificate did not verify: " + client.certificateSubject);
  }
};

// What the request is: a target we cannot read is a 400 whoever sends it.
class TargetStep final : public PolicyStep {
public:
  std::string_view name() const override { return "target"; }
  Verdict check(PolicyRun& run) override {
    const http::RequestHead& request = run.head();
    RequestFacts& facts = run.facts();
    std::string error;
    if (request.isConnect()) {
      facts.isConnect = true;
      auto authority = http::parseAuthorityForm(request.target, error);
      if (!authority) {
        return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead, "CONNECT target: " + error);
      }
      facts.authority = *authority;
      return Verdict::next();
    }
    switch (http::classifyTarget(request.target)) {
    case http::TargetForm::Absolute:
      break;
    case http::TargetForm::Origin:
      return Verdict::refuse(ProxyError::NotAProxyRequest, Phase::ReadHead,
                             "origin-form target sent to a proxy; send absolute-form "
                             "(GET http://host/path) or configure this address as your HTTP "
                             "proxy");
    case http::TargetForm::Asterisk:
      if (request.method == "OPTIONS") {
        http::HeaderList fields;
        fields.add("Allow", std::string(kAllowedMethods));
        return Verdict::answer(200, std::move(fields));
      }
      return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead,
                             "asterisk-form is only for OPTIONS");
    default:
      return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead, "invalid request target");
    }
    auto uri = http::parseAbsoluteUri(request.target, error);
    if (!uri) {
      return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead, "request target: " + error);
    }
    facts.uri = *uri;
    facts.authority = uri->authority;
    return Verdict::next();
  }
};

// RFC 9112 3.2: an HTTP/1.1 request has exactly one valid Host; HTTP/1.0 may have none, and
// so may CONNECT (see below).
// In absolute-form the target's authority wins (the forwarder writes it), but an invalid or
// repeated Host is still a 400: a second parser might believe it.
class HostStep final : public PolicyStep {
public:
  std::string_view name() const override { return "host"; }
  Verdict check(PolicyRun& run) override {
    const http::RequestHead& request = run.head();
    size_t count = 0;
    std::string_view value;
    for (const http::Header& field : request.headers.fields()) {
      if (http::equalsIgnoreCase(field.name, "host")) {
        ++count;
        value = field.value;
      }
    }
    if (count > 1) {
      return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead, "more than one Host field");
    }
    if (count == 0) {
      // CONNECT names its authority in the target; several tunnelling clients omit Host
      // there, and refusing them would break them for no gain.
      if (request.versionMinor >= 1 && !request.isConnect()) {
        return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead,
                               "HTTP/1.1 request without Host");
      }
      return Verdict::next();
    }
    if (!validHostValue(http::trimOws(value))) {
      return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead, "invalid Host value");
    }
    return Verdict::next();
  }
};

// Proxy authentication: a verified client certificate, the connection's memo, or the
// authenticator (at once, or later from the thread pool).
class AuthStep final : public PolicyStep {
public:
  AuthStep(auth::Authenticator& authenticator, bool certificateAuth, std::string realm,
           std::function<uint64_t()> clock)
      : authenticator_(authenticator), certificateAuth_(certificateAuth), realm_(std::move(realm)),
        clock_(std::move(clock)) {}
  std::string_view name() const override { return "auth"; }

  Verdict check(PolicyRun& run) override {
    const ClientIdentity& client = run.client();
    if (certificateAuth_ && client.tlsListener && client.certificate == 1) {
      run.facts().user = "cert:" + client.certificateSubject;
      return Verdict::next();
    }
    auto header = run.head().headers.get("proxy-authorization");
    std::unique_ptr<AuthMemo>& memo = run.memo();
    if (memo && header && memo->matches(*header) && memo->expiresAt > clock_() &&
        memo->generation == authenticator_.generation()) {
      run.facts().user = memo->user;
      return Verdict::next();
    }
    auto decision = authenticator_.check(
        std::string(client.host), header,
        [this, &run](const auth::AuthDecision& d) { run.resume(decide(run, d)); },
        run.pendingCheck());
    if (!decision) {
      return Verdict::pending();
    }
    return decide(run, *decision);
  }

private:
  Verdict decide(PolicyRun& run, const auth::AuthDecision& decision) {
    if (decision.allowed()) {
      run.facts().user = decision.user;
      if (auto header = run.head().headers.get("proxy-authorization")) {
        if (!run.memo()) {
          run.memo() = std::make_unique<AuthMemo>();
        }
        run.memo()->set(*header, decision.user, authenticator_.generation(),
                        clock_() + authenticator_.cacheTtlMs());
      }
      return Verdict::next();
    }
    // The client sees the same 407 whatever the reason; the log line says exactly why.
    std::string detail = std::string("auth: ") + auth::describe(decision.refusal);
    if (!decision.detail.empty()) {
      detail += " (" + decision.detail + ")";
    }
    run.facts().claimedUser = decision.user;
    if (decision.refusal == auth::Refusal::Throttled) {
      Verdict v = Verdict::refuse(ProxyError::AuthThrottled, Phase::Auth, detail,
                                  "too many failed authentication attempts from this address");
      v.fields.add("Retry-After", std::to_string(decision.retryAfterSeconds));
      return v;
    }
    if (auth::backendTrouble(decision.refusal)) {
      // Not the client's fault and no secret: the client may learn which backend is down.
      std::string publicDetail =
          decision.detail.empty() ? auth::describe(decision.refusal) : decision.detail;
      Verdict v = Verdict::refuse(ProxyError::AuthBackendUnavailable, Phase::Auth, detail,
                                  std::move(publicDetail));
      v.fields.add("Retry-After",
                   std::to_string(std::max<uint64_t>(1, decision.retryAfterSeconds)));
      return v;
    }
    Verdict v = Verdict::refuse(ProxyError::AuthRequired, Phase::Auth, detail,
                                "valid proxy credentials are required");
    v.fields.add("Proxy-Authenticate", "Basic realm=\"" + realm_ + "\", charset=\"UTF-8\"");
    return v;
  }

  auth::Authenticator& authenticator_;
  bool certificateAuth_;
  std::string realm_;
  std::function<uint64_t()> clock_;
};

// CONNECT only to the configured ports (443 by default): a tunnel to port 25 is spam relay.
class ConnectPortStep final : public PolicyStep {
public:
  ConnectPortStep(std::function<bool(uint16_t)> allowed, std::function<std::string()> describe)
      : allowed_(std::move(allowed)), describe_(std::move(describe)) {}
  std::string_view name() const override { return "connect-port"; }
  Verdict check(PolicyRun& run) override {
    const RequestFacts& facts = run.facts();
    if (!facts.isConnect || !allowed_ || allowed_(facts.authority.port)) {
      return Verdict::next();
    }
    return Verdict::refuse(ProxyError::ConnectPortDenied, Phase::ReadHead,
                           "CONNECT to port " + std::to_string(facts.authority.port) +
                               " is not allowed (connect-ports " +
                               (describe_ ? describe_() : std::string()) + ")");
  }

private:
  std::function<bool(uint16_t)> allowed_;
  std::function<std::string()> describe_;
};

// Our own Via name coming back means the request loops through us.
class ViaLoopStep final : public PolicyStep {
public:
  explicit ViaLoopStep(std::string pseudonym) : pseudonym_(std::move(pseudonym)) {}
  std::string_view name() const override { return "via-loop"; }
  Verdict check(PolicyRun& run) override {
    if (!pseudonym_.empty() && http::viaNames(run.head().headers, pseudonym_)) {
      return Verdict::refuse(ProxyError::LoopDetected, Phase::ReadHead,
                             "Via already names " + pseudonym_);
    }
    return Verdict::next();
  }

private:
  std::string pseudonym_;
};

// Only 100-continue is an expectation we can meet (RFC 9110 10.1.1).
class ExpectStep final : public PolicyStep {
public:
  std::string_view name() const override { return "expect"; }
  Verdict check(PolicyRun& run) override {
    if (run.facts().isConnect) {
      return Verdict::next();
    }
    auto expect = run.head().headers.get("expect");
    if (expect && !http::equalsIgnoreCase(http::trimOws(*expect), "100-continue")) {
      return Verdict::refuse(ProxyError::ExpectationFailed, Phase::ReadHead,
                             "Expect: " + std::string(*expect) + " is not supported");
    }
    return Verdict::next();
  }
};

// OPTIONS and TRACE with Max-Forwards: 0 end here: the proxy is the final recipient
// (RFC 9110 7.6.2).
class MaxForwardsStep final : public PolicyStep {
public:
  explicit MaxForwardsStep(bool allowTrace) : allowTrace_(allowTrace) {}
  std::string_view name() const override { return "max-forwards"; }
  Verdict check(PolicyRun& run) override {
    const http::RequestHead& request = run.head();
    if (run.facts().isConnect || (request.method != "OPTIONS" && request.method != "TRACE")) {
      return Verdict::next();
    }
    auto maxForwards = http::maxForwards(request.headers);
    if (!maxForwards || *maxForwards != 0) {
      return Verdict::next();
    }
    http::HeaderList fields;
    fields.add("Allow", std::string(kAllowedMethods));
    if (request.method == "OPTIONS") {
      return Verdict::answer(200, std::move(fields));
    }
    if (!allowTrace_) {
      Verdict v = Verdict::refuse(ProxyError::MethodNotAllowed, Phase::ReadHead,
                                  "TRACE is disabled (allow-trace)");
      v.fields = std::move(fields);
      return v;
    }
    // Echo the head as received, minus credentials (RFC 9110 9.3.8 warns of them).
    std::string echo = request.method + " " + request.target + " " + request.version() + "\r\n";
    for (const http::Header& f : request.headers.fields()) {
      if (!http::equalsIgnoreCase(f.name, "proxy-authorization") &&
          !http::equalsIgnoreCase(f.name, "authorization") &&
          !http::equalsIgnoreCase(f.name, "cookie")) {
        echo += f.name + ": " + f.value + "\r\n";
      }
    }
    return Verdict::answer(200, {}, std::move(echo), "message/http");
  }

private:
  bool allowTrace_;
};

} // namespace

std::unique_ptr<PolicyStep> makeClientCertificateStep() {
  return std::make_unique<ClientCertificateStep>();
}
std::unique_ptr<PolicyStep> makeTargetStep() {
  return std::make_unique<TargetStep>();
}
std::unique_ptr<PolicyStep> makeHostStep() {
  return std::make_unique<HostStep>();
}
std::unique_ptr<PolicyStep> makeAuthStep(auth::Authenticator& authenticator, bool certificateAuth,
                                         std::string realm, std::function<uint64_t()> clock) {
  return std::make_unique<AuthStep>(authenticator, certificateAuth, std::move(realm),
                                    std::move(clock));
}
std::unique_ptr<PolicyStep> makeConnectPortStep(std::function<bool(uint16_t)> allowed,
                                                std::function<std::string()> describe) {
  return std::make_unique<ConnectPortStep>(std::move(allowed), std::move(describe));
}
std::unique_ptr<PolicyStep> makeViaLoopStep(std::string pseudonym) {
  return std::make_unique<ViaLoopStep>(std::move(pseudonym));
}
std::unique_ptr<PolicyStep> makeExpectStep() {
  return std::make_unique<ExpectStep>();
}
std::unique_ptr<PolicyStep> makeMaxForwardsStep(bool allowTrace) {
  return std::make_unique<MaxForwardsStep>(allowTrace);
}

void addStandardSteps(PolicyChain& chain, const StandardPolicyOptions& options) {
  if (options.requireClientCertificate) {
    chain.add(makeClientCertificateStep());
  }
  chain.add(makeTargetStep());
  chain.add(makeHostStep());
  if (options.authenticator != nullptr) {
    chain.add(makeAuthStep(*options.authenticator, options.clientCertificateAuth, options.realm,
                           options.clock));
  }
  chain.add(makeConnectPortStep(options.connectPortAllowed, options.connectPortsDescription));
  chain.add(makeViaLoopStep(options.pseudonym));
  chain.add(makeExpectStep());
  chain.add(makeMaxForwardsStep(options.allowTrace));
}

} // namespace gatehouse::policy
