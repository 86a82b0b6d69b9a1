#pragma once
// The egress policy: [[rule]] tables compiled once at load, then asked about each request.
//
// Two steps, because a `cidrs` condition is about the destination address and a name only
// has one after DNS:
//
//  1. Head time: decide(facts) with `facts.resolved` empty. Rules are tried in order. A rule
//     whose conditions all hold decides (first match wins); a report-mode deny rule that
//     holds is noted as would_deny and evaluation goes on. If a rule with `cidrs` is reached
//     while the host is a name, nothing after it can be known yet: the decision comes back
//     with `pendingAddress` set (and allow, so the caller goes on to resolve; a deny before
//     that rule would already have decided).
//  2. Connect time, for every address DNS returned, right before connecting:
//     atConnect(facts with `resolved` set, headDecision). If the head decision was pending,
//     the rules are evaluated again with the address (so `cidrs` rules decide); then the SSRF
//     guard checks the address, letting non-global addresses through only when the allow
//     rule that decided lists them in its `cidrs`. IP-literal hosts are decided completely
//     at head time (their address is known), and the caller still runs atConnect for the
//     guard.
//
// Groups: a rule with `groups` needs the user's groups. Group lookup may be slow (LDAP), so
// the caller resolves them before asking, only when needsGroups() is true and there is a
// user, and passes them in facts.groups; a rule's `groups` holds when any group is shared.
//
// A compiled EgressPolicy is immutable and shared (shared_ptr<const EgressPolicy>): a reload builds
// a new one, and requests in flight keep the one they were decided with.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/config/port_list.h"
#include "gatehouse/policy/address_class.h"
#include "gatehouse/policy/domain_set.h"
#include "gatehouse/policy/ip_address.h"

namespace gatehouse::policy {

using config::RuleAction;

// What the policy knows about a request. Views must outlive the call.
struct RuleFacts {
  IpAddress client;
  std::optional<std::string_view> user; // authenticated user, if any
  std::span<const std::string> groups;  // the user's groups (see needsGroups())
  std::string_view host;                // normalised (normaliseHost)
  std::optional<IpAddress> hostAddress; // set when the host is an IP literal
  uint16_t port = 0;
  std::string_view method;           // as sent ("GET", "CONNECT")
  bool connect = false;              // a CONNECT tunnel
  std::optional<IpAddress> resolved; // the address about to be dialled
};

// One compiled rule.
struct Rule {
  std::string name;
  RuleAction action = RuleAction::Allow;
  bool report = false;
  std::optional<bool> connect;
  std::vector<Cidr> clients;
  std::vector<std::string> users;
  std::vector<std::string> groups;
  DomainSet hosts; // `hosts` and `hosts_file` together: either may name the host
  bool hasHosts = false;
  std::vector<Cidr> cidrs;
  std::vector<std::string> methods; // upper case
  std::optional<config::PortList> ports;
  std::string via; // "" for the default route
  uint32_t line = 0;
};

// The outcome for one request. It points into the EgressPolicy that made it: whoever keeps a
// Decision keeps that policy's shared_ptr too (a reload must not free the rule it names).
struct Decision {
  RuleAction action = RuleAction::Allow;
  const Rule* rule = nullptr;      // nullptr: default_action decided
  const Rule* wouldDeny = nullptr; // first report-mode deny rule that matched
  bool pendingAddress = false;     // head time: a cidrs rule needs the resolved address
  std::string_view ruleName() const {
    return rule != nullptr ? std::string_view(rule->name) : "default";
  }
  bool allowed() const { return action == RuleAction::Allow; }
};

// The verdict at connect time for one address.
struct ConnectVerdict {
  enum class Outcome : uint8_t {
    Allow,
    RuleDenied,  // a cidrs rule denied once the address was known: http_request_denied
    GuardDenied, // SSRF guard: destination_ip_prohibited
  };
  Outcome outcome = Outcome::Allow;
  Decision decision;  // the final decision (re-evaluated if the head decision was pending)
  std::string detail; // Proxy-Status details: "rule <name>" or the address category
  bool allowed() const { return outcome == Outcome::Allow; }
};

// What explain() reports per rule.
struct RuleTrace {
  const Rule* rule;
  bool matched;
  bool pending;       // needed the resolved address
  std::string reason; // the first condition that failed, or why it matched
};

class EgressPolicy {
public:
  // Compiles the config's rules, parents and guard settings. Loads hosts files. Throws
  // config::ConfigError naming file and line for bad CIDRs, patterns, hosts file lines.
  // `boundListeners`, when given, replaces the configured listen addresses as the "own
  // listener" destinations (pass the real ports once bound: "127.0.0.1:0" binds elsewhere;
  // add interface addresses for wildcard listeners).
  static std::shared_ptr<const EgressPolicy>
  compile(const config::Config& config, std::vector<ListenerAddress> boundListeners = {});

  // Head-time decision (step 1). `trace`, if given, receives one entry per rule considered.
  Decision decide(const RuleFacts& facts, std::vector<RuleTrace>* trace = nullptr) const;
  // Connect-time check for one resolved address (step 2). `facts.resolved` must be set.
  ConnectVerdict atConnect(const RuleFacts& facts, const Decision& headDecision) const;

  // The route for an allowed request: "direct" or a parent name.
  std::string_view route(const Decision& decision) const;
  // One line for the start-up log and --check: "7 rules (2 in report mode), default deny,
  // 100000 host patterns, SSRF guard on, route: dc-squid".
  std::string summary() const;
  bool needsGroups() const { return needsGroups_; }
  bool guardEnabled() const { return guardEnabled_; }
  const std::vector<Rule>& rules() const { return rules_; }
  RuleAction defaultAction() const { return defaultAction_; }
  std::span<const ListenerAddress> ownListeners() const { return ownListeners_; }

private:
  std::vector<Rule> rules_;
  RuleAction defaultAction_ = RuleAction::Allow;
  std::string upstreamProxy_;
  bool needsGroups_ = false;
  bool guardEnabled_ = false;
  std::vector<ListenerAddress> ownListeners_;
};

// Whether the SSRF guard is on: ssrf_guard if set, else on when any listener is not loopback
// or authentication is configured.
bool guardEnabled(const config::Config& config);
// The listen and tls_listen addresses as policy values.
std::vector<ListenerAddress> listenerAddresses(const config::Config& config);

// The start-up refusal of an open proxy: a non-loopback listener, no authentication, and no
// rule restricting clients, unless allow_open_proxy. Returns why, or nullopt when fine.
// Clients count as restricted when every allow rule that can be reached has `clients` (none
// of them 0.0.0.0/0 or ::/0) before an unconditional deny rule or a default of deny.
std::optional<std::string> openProxyProblem(const config::Config& config);

} // namespace gatehouse::policy
