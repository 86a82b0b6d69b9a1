#include "gatehouse/policy/rules.h"

#include <algorithm>

namespace gatehouse::policy {

namespace {

using config::ConfigError;

enum class Match : uint8_t { No, Yes, Pending };

struct MatchResult {
  Match match;
  std::string reason; // filled only when explaining
};

template <class T> std::string joined(const std::vector<T>& items, size_t max = 4) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max; ++i) {
    if constexpr (std::is_same_v<T, std::string>) {
      out += (i ? ", " : "") + items[i];
    } else {
      out += (i ? ", " : "") + items[i].toString();
    }
  }
  if (items.size() > max) {
    out += ", ... (" + std::to_string(items.size()) + " in all)";
  }
  return out;
}

bool anyContains(const std::vector<Cidr>& ranges, const IpAddress& address) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const Cidr& c) { return c.contains(address); });
}

// Tries one rule. Conditions are checked cheapest first, `cidrs` last, so a rule reports
// Pending only when everything else about it holds. `explain` fills the reason.
MatchResult matchRule(const Rule& rule, const RuleFacts& facts, bool explain) {
  auto no = [&](auto&& describe) -> MatchResult {
    return {Match::No, explain ? describe() : std::string()};
  };
  if (!rule.clients.empty() && !anyContains(rule.clients, facts.client)) {
    return no([&] {
      return "client " + facts.client.toString() + " not in clients [" + joined(rule.clients) + "]";
    });
  }
  if (!rule.users.empty()) {
    if (!facts.user) {
      return no([] { return std::string("no authenticated user (rule lists users)"); });
    }
    if (std::find(rule.users.begin(), rule.users.end(), *facts.user) == rule.users.end()) {
      return no([&] {
        return "user " + std::string(*facts.user) + " not in users [" + joined(rule.users) + "]";
      });
    }
  }
  if (!rule.groups.empty()) {
    bool shared = std::any_of(facts.groups.begin(), facts.groups.end(), [&](const auto& g) {
      return std::find(rule.groups.begin(), rule.groups.end(), g) != rule.groups.end();
    });
    if (!shared) {
      return no([&] {
        if (facts.groups.empty()) {
          return "no groups known for the request (rule lists groups [" + joined(rule.groups) +
                 "])";
        }
        std::vector<std::string> mine(facts.groups.begin(), facts.groups.end());
        return "groups [" + joined(mine) + "] share none of [" + joined(rule.groups) + "]";
      });
    }
  }
  if (!rule.methods.empty() &&
      std::find(rule.methods.begin(), rule.methods.end(), facts.method) == rule.methods.end()) {
    return no([&] {
      return "method " + std::string(facts.method) + " not in methods [" + joined(rule.methods) +
             "]";
    });
  }
  if (rule.connect && *rule.connect != facts.connect) {
    return no([&] {
      return std::string(facts.connect ? "a CONNECT tunnel (rule has connect = false)"
                                       : "not a CONNECT tunnel (rule has connect = true)");
    });
  }
  if (rule.ports && !rule.ports->allows(facts.port)) {
    return no([&] {
      return "port " + std::to_string(facts.port) + " not in ports " + rule.ports->toString();
    });
  }
  if (rule.hasHosts && !rule.hosts.matches(facts.host)) {
    return no([&] {
      return "host " + std::string(facts.host) + " not in hosts/hosts_file (" +
             std::to_string(rule.hosts.size()) + " patterns)";
    });
  }
  if (!rule.cidrs.empty()) {
    const std::optional<IpAddress>& address = facts.resolved ? facts.resolved : facts.hostAddress;
    if (!address) {
      return {Match::Pending, explain ? "cidrs [" + joined(rule.cidrs) + "] depend on what " +
                                            std::string(facts.host) + " resolves to"
                                      : std::string()};
    }
    if (!anyContains(rule.cidrs, *address)) {
      return no([&] {
        return "address " + address->toString() + " not in cidrs [" + joined(rule.cidrs) + "]";
      });
    }
  }
  if (!explain) {
    return {Match::Yes, {}};
  }
  std::string why;
  if (rule.hasHosts) {
    why = "host matches " + rule.hosts.matchingPattern(facts.host);
  } else if (!rule.cidrs.empty()) {
    why = "address in cidrs";
  } else if (!rule.clients.empty()) {
    why = "client in clients";
  }
  return {Match::Yes, why.empty() ? "all conditions hold" : why};
}

bool isLoopbackListener(const ListenerAddress& l) {
  return classifyAddress(l.address).category == AddressCategory::Loopback;
}

// "HOST:PORT" or "[V6]:PORT" with a numeric host or localhost (validated at load).
std::optional<ListenerAddress> parseListener(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  auto address = IpAddress::parse(host);
  std::string port = text.substr(colon + 1);
  if (!address || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    return std::nullopt;
  }
  return ListenerAddress{*address, static_cast<uint16_t>(std::stoul(port))};
}

bool unconditional(const config::RuleSpec& r) {
  return r.clients.empty() && r.users.empty() && r.groups.empty() && r.hosts.empty() &&
         r.cidrs.empty() && r.methods.empty() && !r.ports && !r.connect && r.hostsFile.empty();
}

std::vector<Cidr> compileCidrs(const std::vector<config::LocatedString>& values,
                               const std::string& key) {
  std::vector<Cidr> out;
  for (const auto& v : values) {
    std::string error;
    auto cidr = Cidr::parse(v.value, error);
    if (!cidr) {
      throw ConfigError(v.where.prefix() + key + ": " + error);
    }
    out.push_back(*cidr);
  }
  return out;
}

Rule compileRule(const config::RuleSpec& spec) {
  Rule rule;
  rule.name = spec.name;
  rule.action = spec.action;
  rule.report = spec.report;
  rule.connect = spec.connect;
  rule.line = spec.where.line;
  rule.clients = compileCidrs(spec.clients, "clients");
  rule.cidrs = compileCidrs(spec.cidrs, "cidrs");
  for (const auto& u : spec.users) {
    rule.users.push_back(u.value);
  }
  for (const auto& g : spec.groups) {
    rule.groups.push_back(g.value);
  }
  for (const auto& m : spec.methods) {
    std::string upper = m.value;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    rule.methods.push_back(upper);
  }
  rule.ports = spec.ports;
  for (const auto& h : spec.hosts) {
    std::string error;
    if (!rule.hosts.add(h.value, error)) {
      throw ConfigError(h.where.prefix() + "hosts: \"" + h.value + "\": " + error);
    }
  }
  if (!spec.hostsFile.empty()) {
    std::vector<std::string> errors;
    rule.hosts.loadFile(spec.hostsFile, errors);
    if (!errors.empty()) {
      std::string message = spec.hostsFileWhere.prefix() + "hosts_file:";
      for (const std::string& e : errors) {
        message += "\n  " + e;
      }
      throw ConfigError(message);
    }
  }
  rule.hasHosts = !spec.hosts.empty() || !spec.hostsFile.empty();
  rule.via = spec.via;
  return rule;
}

} // namespace

std::shared_ptr<const EgressPolicy>
EgressPolicy::compile(const config::Config& config, std::vector<ListenerAddress> boundListeners) {
  auto policy = std::make_shared<EgressPolicy>();
  for (const config::RuleSpec& spec : config.rules) {
    policy->rules_.push_back(compileRule(spec));
    policy->needsGroups_ = policy->needsGroups_ || !spec.groups.empty();
  }
  policy->defaultAction_ = config.defaultAction;
  policy->upstreamProxy_ = config.upstreamProxy;
  policy->guardEnabled_ = policy::guardEnabled(config);
  policy->ownListeners_ =
      boundListeners.empty() ? listenerAddresses(config) : std::move(boundListeners);
  return policy;
}

Decision EgressPolicy::decide(const RuleFacts& facts, std::vector<RuleTrace>* trace) const {
  Decision decision;
  for (const Rule& rule : rules_) {
    MatchResult result = matchRule(rule, facts, trace != nullptr);
    if (trace != nullptr) {
      trace->push_back({&rule, result.match == Match::Yes, result.match == Match::Pending,
                        std::move(result.reason)});
    }
    if (result.match == Match::No) {
      continue;
    }
    if (result.match == Match::Pending) {
      // Nothing after this rule can be decided before DNS; a deny before it would have won.
      decision.pendingAddress = true;
      decision.action = RuleAction::Allow;
      return decision;
    }
    if (rule.report && rule.action == RuleAction::Deny) {
      if (decision.wouldDeny == nullptr) {
        decision.wouldDeny = &rule;
      }
      continue; // report mode: as if the rule were not there, plus a log line
    }
    decision.action = rule.action;
    decision.rule = &rule;
    return decision;
  }
  decision.action = defaultAction_;
  return decision;
}

ConnectVerdict EgressPolicy::atConnect(const RuleFacts& facts, const Decision& headDecision) const {
  ConnectVerdict verdict;
  verdict.decision = headDecision;
  if (!facts.resolved) {
    verdict.outcome = ConnectVerdict::Outcome::GuardDenied;
    verdict.detail = "no address";
    return verdict;
  }
  if (headDecision.pendingAddress) {
    verdict.decision = decide(facts);
    // A report-mode rule seen at head time stays reported.
    if (verdict.decision.wouldDeny == nullptr) {
      verdict.decision.wouldDeny = headDecision.wouldDeny;
    }
  }
  if (!verdict.decision.allowed()) {
    verdict.outcome = ConnectVerdict::Outcome::RuleDenied;
    verdict.detail = "rule " + std::string(verdict.decision.ruleName());
    return verdict;
  }
  std::span<const Cidr> ranges;
  if (verdict.decision.rule != nullptr) {
    ranges = verdict.decision.rule->cidrs;
  }
  GuardVerdict guard =
      checkDestination(*facts.resolved, facts.port, guardEnabled_, ownListeners_, ranges);
  verdict.detail = guard.reason;
  if (!guard.allowed) {
    verdict.outcome = ConnectVerdict::Outcome::GuardDenied;
  }
  return verdict;
}

std::string_view EgressPolicy::route(const Decision& decision) const {
  if (decision.rule != nullptr && !decision.rule->via.empty()) {
    return decision.rule->via;
  }
  return upstreamProxy_.empty() ? std::string_view("direct") : std::string_view(upstreamProxy_);
}

std::string EgressPolicy::summary() const {
  size_t report = 0;
  size_t patterns = 0;
  for (const Rule& r : rules_) {
    report += r.report ? 1 : 0;
    patterns += r.hosts.size();
  }
  std::string out = std::to_string(rules_.size()) + (rules_.size() == 1 ? " rule" : " rules");
  if (report != 0) {
    out += " (" + std::to_string(report) + " in report mode)";
  }
  out += ", default " + std::string(defaultAction_ == RuleAction::Allow ? "allow" : "deny");
  if (patterns != 0) {
    out += ", " + std::to_string(patterns) + " host patterns";
  }
  out += ", SSRF guard " + std::string(guardEnabled_ ? "on" : "off");
  out += ", route " + (upstreamProxy_.empty() ? std::string("direct") : upstreamProxy_);
  return out;
}

std::vector<ListenerAddress> listenerAddresses(const config::Config& config) {
  std::vector<ListenerAddress> out;
  for (const auto* list : {&config.listen, &config.tlsListen}) {
    for (const std::string& text : *list) {
      if (auto l = parseListener(text)) {
        out.push_back(*l);
      }
    }
  }
  return out;
}

bool guardEnabled(const config::Config& config) {
  if (config.ssrfGuard) {
    return *config.ssrfGuard;
  }
  auto listeners = listenerAddresses(config);
  bool exposed = std::any_of(listeners.begin(), listeners.end(),
                             [](const ListenerAddress& l) { return !isLoopbackListener(l); });
  return exposed || !config.authFile.empty() || config.tlsClientCertAuth;
}

std::optional<std::string> openProxyProblem(const config::Config& config) {
  if (config.allowOpenProxy || !config.authFile.empty() || config.tlsClientCertAuth) {
    return std::nullopt;
  }
  std::string exposed;
  for (const ListenerAddress& l : listenerAddresses(config)) {
    if (!isLoopbackListener(l)) {
      exposed = l.address.isV4() ? l.address.toString() + ":" + std::to_string(l.port)
                                 : "[" + l.address.toString() + "]:" + std::to_string(l.port);
      break;
    }
  }
  if (exposed.empty()) {
    return std::nullopt;
  }
  bool restricted = config.defaultAction == RuleAction::Deny;
  for (const config::RuleSpec& rule : config.rules) {
    if (rule.report) {
      continue; // never denies anything
    }
    if (rule.action == RuleAction::Deny) {
      if (unconditional(rule)) {
        restricted = true; // everything after it is unreachable
        break;
      }
      continue;
    }
    bool limited = !rule.clients.empty();
    for (const auto& c : rule.clients) {
      std::string error;
      auto cidr = Cidr::parse(c.value, error);
      limited = limited && cidr && !cidr->matchesEverything();
    }
    if (!limited) {
      restricted = false;
      break;
    }
  }
  if (restricted) {
    return std::nullopt;
  }
  return "listening on " + exposed +
         " without authentication and without a rule restricting clients: this is an open "
         "proxy, abused within hours on the internet. Set auth_file, or allow only your "
         "networks ([[rule]] with clients = [...] and default_action = \"deny\"), or set "
         "allow_open_proxy = true";
}

} // namespace gatehouse::policy
