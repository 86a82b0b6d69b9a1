#include "gatehouse/policy/egress_step.h"

#include <set>

#include "gatehouse/auth/group_resolver.h"
#include "gatehouse/log/log.h"
#include "gatehouse/policy/host_name.h"
#include "gatehouse/policy/rules.h"

namespace gatehouse::policy {

using errors::Phase;
using errors::ProxyError;

// One request's egress state: what the rules were asked, and what they decided.
struct RequestFacts::Egress {
  std::shared_ptr<const EgressPolicy> policy;
  Decision decision;
  IpAddress client;
  std::string host; // normalised
  std::optional<IpAddress> hostAddress;
  std::optional<std::string> user;
  std::vector<std::string> groups; // the user's groups among those the rules name
  std::vector<std::string> toAsk;  // groups still to ask about (a helper may be slow)
  uint16_t port = 0;
  std::string method;
  bool connect = false;

  RuleFacts facts() const {
    RuleFacts f;
    f.client = client;
    if (user) {
      f.user = *user;
    }
    f.groups = groups;
    f.host = host;
    f.hostAddress = hostAddress;
    f.port = port;
    f.method = method;
    f.connect = connect;
    return f;
  }
};

namespace {

class EgressRulesStep final : public PolicyStep {
public:
  EgressRulesStep(std::shared_ptr<const EgressPolicy> egress, auth::GroupResolver* groups)
      : egress_(std::move(egress)), groups_(groups) {}
  std::string_view name() const override { return "rules"; }

  Verdict check(PolicyRun& run) override {
    RequestFacts& facts = run.facts();
    std::string error;
    auto host = normaliseHost(facts.authority.host, error);
    if (!host) {
      return Verdict::refuse(ProxyError::BadRequest, Phase::ReadHead, "destination host: " + error);
    }
    // Every later part (DNS, the pool, the Host field) uses the form the rules judged.
    facts.authority.host = host->text;
    if (!facts.isConnect) {
      facts.uri.authority.host = host->text;
    }
    auto state = std::make_shared<RequestFacts::Egress>();
    state->policy = egress_;
    state->client = IpAddress::parse(run.client().host).value_or(IpAddress());
    state->host = host->text;
    state->hostAddress = host->address;
    state->port = facts.authority.port;
    state->method = run.head().method;
    state->connect = facts.isConnect;
    if (!facts.user.empty()) {
      state->user = facts.user;
      if (egress_->needsGroups() && groups_ != nullptr) {
        std::set<std::string> named;
        for (const Rule& rule : egress_->rules()) {
          named.insert(rule.groups.begin(), rule.groups.end());
        }
        state->toAsk.assign(named.begin(), named.end());
      }
    }
    facts.egress = state;
    return askGroups(run, state);
  }

private:
  // Asks the group source about each group the rules name, in turn; a helper's answer
  // resumes here. Unavailable counts as not a member (a rule never holds on a guess).
  Verdict askGroups(PolicyRun& run, const std::shared_ptr<RequestFacts::Egress>& state) {
    while (!state->toAsk.empty()) {
      std::string group = state->toAsk.back();
      state->toAsk.pop_back();
      auto answer = groups_->isMember(
          *state->user, group,
          [this, &run, state, group](auth::GroupAnswer a) {
            if (a == auth::GroupAnswer::Member) {
              state->groups.push_back(group);
            }
            run.resume(askGroups(run, state));
          },
          run.pendingCheck());
      if (!answer) {
        return Verdict::pending();
      }
      if (*answer == auth::GroupAnswer::Member) {
        state->groups.push_back(group);
      }
    }
    return decide(run, *state);
  }

  Verdict decide(PolicyRun& run, RequestFacts::Egress& state) {
    RequestFacts& facts = run.facts();
    state.decision = egress_->decide(state.facts());
    facts.rule = std::string(state.decision.ruleName());
    if (state.decision.wouldDeny != nullptr) {
      facts.wouldDeny = state.decision.wouldDeny->name;
      // Report mode: the request goes through; the log says what enforcing would break.
      log::diag().info("would_deny rule={} client={} user={} method={} target={}", facts.wouldDeny,
                       run.client().address, facts.user.empty() ? "-" : log::quoted(facts.user),
                       run.head().method, log::quoted(run.head().target));
    }
    if (!state.decision.allowed()) {
      std::string detail = "rule " + facts.rule;
      return Verdict::refuse(ProxyError::RuleDenied, Phase::ReadHead, detail, detail);
    }
    std::string_view route = egress_->route(state.decision);
    facts.via = std::string(route);
    return Verdict::next();
  }

  std::shared_ptr<const EgressPolicy> egress_;
  auth::GroupResolver* groups_;
};

} // namespace

std::unique_ptr<PolicyStep> makeEgressRulesStep(std::shared_ptr<const EgressPolicy> egress,
                                                auth::GroupResolver* groups) {
  return std::make_unique<EgressRulesStep>(std::move(egress), groups);
}

ConnectRefusal checkConnect(const RequestFacts& facts, const IpAddress& address) {
  if (!facts.egress) {
    return {};
  }
  RuleFacts ruleFacts = facts.egress->facts();
  ruleFacts.resolved = address;
  ConnectVerdict verdict = facts.egress->policy->atConnect(ruleFacts, facts.egress->decision);
  switch (verdict.outcome) {
  case ConnectVerdict::Outcome::Allow:
    return {};
  case ConnectVerdict::Outcome::RuleDenied:
    return {ProxyError::RuleDenied, verdict.detail};
  case ConnectVerdict::Outcome::GuardDenied:
    return {ProxyError::DestinationDenied, verdict.detail};
  }
  return {};
}

} // namespace gatehouse::policy
