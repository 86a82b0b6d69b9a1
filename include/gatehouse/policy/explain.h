#pragma once
// `gatehouse --check --explain '...'`: which rule decides a described request and why, from
// the configuration alone. Nothing is started, resolved or sent.
//
// Query syntax (words separated by spaces):
//   [USER[GROUP,...]] METHOD TARGET from CLIENT [resolved ADDRESS]
// USER is optional ("-" means none); TARGET is absolute-form for most methods
// ("http://x.test/") and host:port for CONNECT. Examples:
//   alice CONNECT example.com:443 from 10.1.2.3
//   alice[eng,ops] GET http://x.test/ from 10.1.2.3 resolved 10.9.0.7

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/policy/ip_address.h"
#include "gatehouse/policy/rules.h"

namespace gatehouse::policy {

struct ExplainQuery {
  std::optional<std::string> user;
  std::vector<std::string> groups;
  std::string method;
  std::string target;
  IpAddress client;
  std::optional<IpAddress> resolved;
};

// Parses a query; nullopt with `error` on bad syntax.
std::optional<ExplainQuery> parseExplainQuery(std::string_view text, std::string& error);

// The explanation, one fact per line, ending with a "decision: ..." line. `denied` is set
// when the request would be refused (rule, default or guard).
std::string explain(const EgressPolicy& policy, const ExplainQuery& query, bool& denied);

} // namespace gatehouse::policy
