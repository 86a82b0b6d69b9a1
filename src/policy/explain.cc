#include "gatehouse/policy/explain.h"

#include "gatehouse/http/uri.h"
#include "gatehouse/policy/host_name.h"

namespace gatehouse::policy {

namespace {

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
      ++i;
    }
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') {
      ++i;
    }
    if (i > start) {
      out.push_back(text.substr(start, i - start));
    }
  }
  return out;
}

bool isMethod(std::string_view w) {
  return !w.empty() && w.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_") == std::string::npos;
}

std::string actionName(RuleAction a) {
  return a == RuleAction::Allow ? "allow" : "deny";
}

} // namespace

std::optional<ExplainQuery> parseExplainQuery(std::string_view text, std::string& error) {
  auto w = words(text);
  ExplainQuery q;
  size_t from = 0;
  while (from < w.size() && w[from] != "from") {
    ++from;
  }
  if (from + 2 > w.size() || (from != 2 && from != 3)) {
    error = "expected [USER[GROUPS]] METHOD TARGET from CLIENT [resolved ADDRESS]";
    return std::nullopt;
  }
  size_t i = 0;
  if (from == 3) {
    std::string_view who = w[0];
    size_t open = who.find('[');
    if (open != std::string_view::npos) {
      if (who.back() != ']' || open == 0) {
        error = "groups go in brackets after the user: alice[eng,ops]";
        return std::nullopt;
      }
      std::string_view list = who.substr(open + 1, who.size() - open - 2);
      while (!list.empty()) {
        size_t comma = list.find(',');
        if (comma != 0) {
          q.groups.emplace_back(list.substr(0, comma));
        }
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
      who = who.substr(0, open);
    }
    if (who != "-") {
      q.user = std::string(who);
    }
    i = 1;
  }
  if (!isMethod(w[i])) {
    error = "\"" + std::string(w[i]) + "\" is not a method (upper case, e.g. GET or CONNECT)";
    return std::nullopt;
  }
  q.method = std::string(w[i]);
  q.target = std::string(w[i + 1]);
  auto client = IpAddress::parse(w[from + 1]);
  if (!client) {
    error = "the client must be a numeric address, not \"" + std::string(w[from + 1]) + "\"";
    return std::nullopt;
  }
  q.client = *client;
  size_t rest = from + 2;
  if (rest < w.size()) {
    if (w[rest] != "resolved" || rest + 2 != w.size()) {
      error = "after the client only \"resolved ADDRESS\" may follow";
      return std::nullopt;
    }
    q.resolved = IpAddress::parse(w[rest + 1]);
    if (!q.resolved) {
      error = "resolved needs a numeric address";
      return std::nullopt;
    }
  }
  return q;
}

std::string explain(const EgressPolicy& policy, const ExplainQuery& query, bool& denied) {
  denied = false;
  std::string out;
  bool connect = query.method == "CONNECT";
  std::string error;
  std::string rawHost;
  uint16_t port = 0;
  if (connect) {
    auto authority = http::parseAuthorityForm(query.target, error);
    if (!authority) {
      denied = true;
      return "request: invalid CONNECT target \"" + query.target + "\": " + error +
             "\ndecision: deny (400 bad request)\n";
    }
    rawHost = authority->host;
    port = authority->port;
  } else {
    auto uri = http::parseAbsoluteUri(query.target, error);
    if (!uri) {
      denied = true;
      return "request: invalid target \"" + query.target + "\": " + error +
             "\ndecision: deny (400 bad request)\n";
    }
    rawHost = uri->authority.host;
    port = uri->authority.port;
  }
  auto host = normaliseHost(rawHost, error);
  if (!host) {
    denied = true;
    return "request: host \"" + rawHost + "\" refused: " + error +
           "\ndecision: deny (400 bad request)\n";
  }

  out += "request: " + query.method + " " + host->text + ":" + std::to_string(port) + " from " +
         query.client.toString();
  if (query.user) {
    out += " as " + *query.user;
    if (!query.groups.empty()) {
      out += " (groups";
      for (const auto& g : query.groups) {
        out += " " + g;
      }
      out += ")";
    }
  } else {
    out += " (no user)";
  }
  out += "\n";
  if (host->text != rawHost) {
    out += "host: \"" + rawHost + "\" normalised to " + host->text + "\n";
  }

  RuleFacts facts;
  facts.client = query.client;
  if (query.user) {
    facts.user = *query.user;
  }
  facts.groups = query.groups;
  facts.host = host->text;
  facts.hostAddress = host->address;
  facts.port = port;
  facts.method = query.method;
  facts.connect = connect;
  facts.resolved = query.resolved;
  if (query.resolved && host->address && !(*query.resolved == *host->address)) {
    out += "note: the host is an address literal; \"resolved\" replaces it for cidrs\n";
  }

  std::vector<RuleTrace> trace;
  Decision decision = policy.decide(facts, &trace);
  for (const RuleTrace& t : trace) {
    out += "rule \"" + t.rule->name + "\" (line " + std::to_string(t.rule->line) + ", " +
           actionName(t.rule->action) + (t.rule->report ? ", report" : "") + "): ";
    if (t.pending) {
      out += "depends on DNS: " + t.reason + " (add \"resolved ADDRESS\" to see)\n";
    } else if (!t.matched) {
      out += "no match: " + t.reason + "\n";
    } else if (t.rule->report && t.rule->action == RuleAction::Deny) {
      out += "matches (" + t.reason + "): would_deny, report mode lets the request go on\n";
    } else {
      out += "matches (" + t.reason + ")\n";
    }
  }
  if (decision.pendingAddress) {
    out += "decision: undecided until " + host->text +
           " is resolved (rules from the one above on need the address)\n";
    return out;
  }
  if (decision.rule == nullptr) {
    out += "no rule matched: default_action = " + actionName(policy.defaultAction()) + "\n";
  }
  if (!decision.allowed()) {
    denied = true;
    out += "decision: deny by " +
           (decision.rule ? "rule \"" + decision.rule->name + "\"" : std::string("default")) +
           " (403, Proxy-Status error=http_request_denied; details=\"rule " +
           std::string(decision.ruleName()) + "\")\n";
    return out;
  }
  std::string_view route = policy.route(decision);
  // The guard looks at the address dialled: an IP literal now, a name after DNS.
  std::optional<IpAddress> address = query.resolved ? query.resolved : host->address;
  std::string guard = policy.guardEnabled() ? "on" : "off";
  if (address) {
    ConnectVerdict verdict = policy.atConnect(
        [&] {
          RuleFacts f = facts;
          f.resolved = address;
          return f;
        }(),
        decision);
    if (!verdict.allowed()) {
      denied = true;
      out += "ssrf guard (" + guard + "): " + address->toString() + " refused (" + verdict.detail +
             ")\n";
      out += "decision: deny (403, Proxy-Status error=destination_ip_prohibited; details=\"" +
             verdict.detail + "\")\n";
      return out;
    }
    out += "ssrf guard (" + guard + "): " + address->toString() + " allowed (" + verdict.detail +
           ")\n";
  } else {
    out += "ssrf guard (" + guard + "): checks each address " + host->text +
           " resolves to, at connect time\n";
  }
  out += "decision: allow by " +
         (decision.rule ? "rule \"" + decision.rule->name + "\"" : std::string("default")) +
         ", via " + std::string(route);
  if (decision.wouldDeny != nullptr) {
    out += " (logged: would_deny rule=" + decision.wouldDeny->name + ")";
  }
  out += "\n";
  return out;
}

} // namespace gatehouse::policy
