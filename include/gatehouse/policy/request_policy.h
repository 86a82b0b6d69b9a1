#pragma once
// The request-policy chain: the checks every request head passes before anything is sent
// upstream. Each step looks at the head and the client and answers continue, answer locally,
// refuse with a ProxyError, or "pending" (an asynchronous check, such as a slow password hash
// on the thread pool, resumes the chain later). Modelled on Envoy's decoder filter chain
// (Continue / StopIteration + continueDecoding). No sockets here: the chain is unit-tested
// without a loop, and the connection decides what to do with the verdict.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/errors/proxy_error.h"
#include "gatehouse/http/message.h"
#include "gatehouse/http/uri.h"
#include "gatehouse/uv/work.h"

namespace gatehouse::auth {
class Authenticator;
}
namespace gatehouse::config {
struct Config;
}

namespace gatehouse::policy {

// What the connection knows about the client that sent the request.
struct ClientIdentity {
  std::string_view address; // "host:port" or "[v6]:port"
  std::string_view host;    // without the port: the throttling key
  bool tlsListener = false;
  // Client certificate on the TLS listener: 0 none, 1 verified, -1 did not verify.
  int certificate = 0;
  std::string certificateSubject;
};

// What the chain learns about a request, for the parts after it (exchange, tunnel, log).
struct RequestFacts {
  bool isConnect = false;
  http::AbsoluteUri uri;     // absolute-form requests
  http::Authority authority; // destination (both forms)
  std::string user;          // the authenticated user ("cert:<subject>" for certificates)
  std::string claimedUser;   // the user refused credentials named: for the log line only
  // The route a rule chose: "" (the default parent, or direct without one), "direct", or a
  // parent proxy's name.
  std::string via;
};

// Proxy-Authorization last accepted on one connection, so keep-alive requests repeating it
// skip decoding and hashing. Owned by the connection; wiped when replaced or destroyed.
struct AuthMemo {
  AuthMemo() = default;
  AuthMemo(const AuthMemo&) = delete;
  AuthMemo& operator=(const AuthMemo&) = delete;
  ~AuthMemo();
  // Constant-time comparison with a presented header value (CRYPTO_memcmp).
  bool matches(std::string_view header) const;
  void set(std::string_view header, std::string user, uint64_t generation, uint64_t expiresAt);
  std::string header;
  std::string user;
  uint64_t generation = 0;
  uint64_t expiresAt = 0;
};

// One step's answer.
struct Verdict {
  enum class Kind {
    Continue, // next step (or, after the last, go upstream)
    Pending,  // the step resumes the chain later through PolicyRun::resume
    Answer,   // the proxy answers itself (OPTIONS *, Max-Forwards: 0)
    Refuse,   // an error response from the mapping table
  };
  Kind kind = Kind::Continue;
  // Refuse
  errors::ProxyError error = errors::ProxyError::None;
  errors::Phase phase = errors::Phase::ReadHead;
  std::string detail;       // for the log
  std::string publicDetail; // what the client sees instead of `detail`, when set
  // Answer
  int status = 0;
  std::string body;
  std::string contentType;
  // Both: extra response fields (Proxy-Authenticate, Retry-After, Allow).
  http::HeaderList fields;

  static Verdict next() { return {}; }
  static Verdict pending() {
    Verdict v;
    v.kind = Kind::Pending;
    return v;
  }
  static Verdict refuse(errors::ProxyError error, errors::Phase phase, std::string detail,
                        std::string publicDetail = {});
  static Verdict answer(int status, http::HeaderList fields, std::string body = {},
                        std::string contentType = {});
};

class PolicyRun;

// One member of the chain. Steps are shared by every connection of a worker and keep no
// per-request state; what a request needs lives in its PolicyRun.
class PolicyStep {
public:
  virtual ~PolicyStep() = default;
  virtual std::string_view name() const = 0;
  virtual Verdict check(PolicyRun& run) = 0;
};

// The ordered steps of one worker.
class PolicyChain {
public:
  void add(std::unique_ptr<PolicyStep> step) { steps_.push_back(std::move(step)); }
  size_t size() const { return steps_.size(); }
  PolicyStep& step(size_t i) const { return *steps_[i]; }
  std::vector<std::string_view> names() const;

private:
  std::vector<std::unique_ptr<PolicyStep>> steps_;
};

// Cancels an asynchronous check when destroyed (the request went away first).
using PendingCheck = uv::WorkRequestPtr;

// One request's pass through the chain.
class PolicyRun {
public:
  using Done = std::function<void(const Verdict&)>;
  PolicyRun(const PolicyChain& chain, const http::RequestHead& head, const ClientIdentity& client,
            RequestFacts& facts, std::unique_ptr<AuthMemo>& memo, uint64_t now)
      : chain_(chain), head_(head), client_(client), facts_(facts), memo_(memo), now_(now) {}
  PolicyRun(const PolicyRun&) = delete;
  PolicyRun& operator=(const PolicyRun&) = delete;

  // Runs the steps in order. Returns the final verdict (never Pending) when every step
  // decided at once; otherwise nullopt, and `done` is called later, from the loop (never if
  // this run is destroyed first).
  std::optional<Verdict> start(Done done);
  // For a pending step: its answer. Continue goes on with the next step.
  void resume(const Verdict& verdict);

  const http::RequestHead& head() const { return head_; }
  const ClientIdentity& client() const { return client_; }
  RequestFacts& facts() { return facts_; }
  std::unique_ptr<AuthMemo>& memo() { return memo_; }
  uint64_t now() const { return now_; }
  // Where a pending step keeps its cancellation handle.
  PendingCheck& pendingCheck() { return pending_; }
  // The step deciding now (for tests and the log): its name, or "" after the last.
  std::string_view currentStep() const;

private:
  std::optional<Verdict> runFrom(size_t index);

  const PolicyChain& chain_;
  const http::RequestHead& head_;
  const ClientIdentity& client_;
  RequestFacts& facts_;
  std::unique_ptr<AuthMemo>& memo_;
  uint64_t now_;
  size_t index_ = 0;
  Done done_;
  PendingCheck pending_;
};

// The methods the proxy names in Allow.
inline constexpr std::string_view kAllowedMethods =
    "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH";

// Options the standard steps read (from the configuration).
struct StandardPolicyOptions {
  bool requireClientCertificate = false; // TLS listener with a client CA
  bool clientCertificateAuth = false;    // a verified certificate stands in for credentials
  std::string realm = "Gatehouse";
  bool allowTrace = false;
  std::string pseudonym;                                // our Via name
  std::function<bool(uint16_t)> connectPortAllowed;     // CONNECT port rule
  std::function<std::string()> connectPortsDescription; // for the refusal's detail
  auth::Authenticator* authenticator = nullptr;         // null: an open proxy
  std::function<uint64_t()> clock;                      // loop time in ms
};

// The standard chain, in order: client certificate, request target, Host, authentication,
// CONNECT port, Via loop, Expect, Max-Forwards. The destination policy (rules, SSRF guard)
// plugs in after authentication.
void addStandardSteps(PolicyChain& chain, const StandardPolicyOptions& options);

// Individual steps, for tests and for chains built differently.
std::unique_ptr<PolicyStep> makeClientCertificateStep();
std::unique_ptr<PolicyStep> makeTargetStep();
std::unique_ptr<PolicyStep> makeHostStep();
std::unique_ptr<PolicyStep> makeAuthStep(auth::Authenticator& authenticator, bool certificateAuth,
                                         std::string realm, std::function<uint64_t()> clock);
std::unique_ptr<PolicyStep> makeConnectPortStep(std::function<bool(uint16_t)> allowed,
                                                std::function<std::string()> describe);
std::unique_ptr<PolicyStep> makeViaLoopStep(std::string pseudonym);
std::unique_ptr<PolicyStep> makeExpectStep();
std::unique_ptr<PolicyStep> makeMaxForwardsStep(bool allowTrace);

// RFC 9112 3.2 / RFC 9110 7.2: a Host value is uri-host [ ":" port ] with no userinfo, path,
// whitespace or list. True when `value` is one.
bool validHostValue(std::string_view value);

} // namespace gatehouse::policy
