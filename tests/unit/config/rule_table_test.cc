// [[rule]] tables (src/config/rule_table.cc) through the loader: every key into the RuleSpec
// with the lines the policy layer reports against, and the errors of the config layer itself
// (types, names, methods, ports), each naming file and line.

#include <catch2/catch.hpp>

#include "config_loading.h"
#include "gatehouse/config/config.h"

using namespace gatehouse::config;
using namespace gatehouse::config::testing;

namespace {

// A deny rule "r" on line 1; `rest` starts on line 4.
std::string denyRule(const std::string& rest) {
  return "[[rule]]\nname = \"r\"\naction = \"deny\"\n" + rest;
}

} // namespace

TEST_CASE("a rule in a config file keeps every condition with the line it was written on",
          "[config]") {
  Config c = load(R"(
[[rule]]
name = "block-lists"
action = "deny"
report = true
connect = false
clients = ["10.0.0.0/8", "192.168.0.0/16"]
users = "alice"
groups = ["staff"]
hosts = ["*.example.com",
  ".example.org"]
cidrs = ["203.0.113.0/24"]
methods = ["GET", "M-SEARCH"]
ports = [80, "8000-8100"]
hosts_file = "lists/blocked.txt"

[[rule]]
name = "eu"
action = "allow"
ports = "443,8443"
via = "eu-parent"
)",
                  "/etc/gatehouse/gatehouse.toml");
  REQUIRE(c.rules.size() == 2);
  const RuleSpec& r = c.rules[0];
  CHECK(r.name == "block-lists");
  CHECK(r.action == RuleAction::Deny);
  CHECK(r.report);
  CHECK(r.connect == false);
  CHECK(r.where.file == "/etc/gatehouse/gatehouse.toml");
  CHECK(r.where.line == 2);
  REQUIRE(r.clients.size() == 2);
  CHECK(r.clients[1].value == "192.168.0.0/16");
  CHECK(r.clients[1].where.line == 7);
  REQUIRE(r.users.size() == 1); // a single string is a list of one
  CHECK(r.users[0].value == "alice");
  CHECK(r.groups.at(0).value == "staff");
  REQUIRE(r.hosts.size() == 2);
  CHECK(r.hosts[0].where.line == 10);
  CHECK(r.hosts[1].value == ".example.org");
  CHECK(r.hosts[1].where.line == 11);
  CHECK(r.cidrs.at(0).value == "203.0.113.0/24");
  CHECK(r.methods.at(1).value == "M-SEARCH");
  REQUIRE(r.ports);
  CHECK(r.ports->allows(80));
  CHECK(r.ports->allows(8050));
  CHECK_FALSE(r.ports->allows(81));
  // Relative to the configuration file's directory; read by the policy layer, not here.
  CHECK(r.hostsFile == "/etc/gatehouse/lists/blocked.txt");
  CHECK(r.hostsFileWhere.line == 15);
  CHECK(r.via.empty());

  const RuleSpec& eu = c.rules[1];
  CHECK(eu.action == RuleAction::Allow);
  CHECK_FALSE(eu.report);
  CHECK_FALSE(eu.connect);
  CHECK(eu.clients.empty());
  CHECK(eu.ports->allows(8443));
  CHECK_FALSE(eu.ports->allows(80));
  CHECK(eu.via == "eu-parent");
  CHECK(eu.viaWhere.line == 21);
  CHECK(eu.hostsFile.empty());

  // A bare file name keeps a bare hosts_file name; an absolute one is kept as it is.
  CHECK(load(denyRule("hosts_file = \"blocked.txt\"\n")).rules[0].hostsFile == "blocked.txt");
  CHECK(load(denyRule("hosts_file = \"/srv/b.txt\"\n"), "conf/g.toml").rules[0].hostsFile ==
        "/srv/b.txt");
  CHECK(load(denyRule("hosts_file = \"b.txt\"\n"), "conf/g.toml").rules[0].hostsFile ==
        "conf/b.txt");
}

TEST_CASE("rule table config errors name the file and line of the offending value", "[config]") {
  CHECK(loadError("[[rule]]\nname = \"a b\"\naction = \"deny\"\n") ==
        "test.toml:2: name: \"a b\" is not a name (letters, digits and -._ only)");
  CHECK(loadError("[[rule]]\nname = \"" + std::string(101, 'r') + "\"\n") ==
        "test.toml:2: name: expected a name (1-100 characters)");
  CHECK(loadError("[[rule]]\nname = \"\"\n") ==
        "test.toml:2: name: expected a name (1-100 characters)");
  CHECK(loadError(denyRule("methods = [\"GET\",\n  \"BAD METHOD\"]\n")) ==
        "test.toml:5: methods: \"BAD METHOD\" is not a method");
  CHECK(loadError(denyRule("clients = [\"10.0.0.0/8\",\n  3]\n")) ==
        "test.toml:5: clients: expected a non-empty string");
  CHECK(loadError(denyRule("hosts = [\"\"]\n")) ==
        "test.toml:4: hosts: expected a non-empty string");
  CHECK(loadError(denyRule("groups = {}\n")) == "test.toml:4: groups: expected a non-empty string");
  CHECK(loadError(denyRule("ports = true\n")) ==
        "test.toml:4: ports: expected port numbers or \"low-high\"");
  CHECK(loadError(denyRule("ports = [\"80-70\"]\n")).starts_with("test.toml:4: ports: "));
  CHECK(loadError(denyRule("ports = \"http\"\n")).starts_with("test.toml:4: ports: "));
  CHECK(loadError(denyRule("hosts_file = \"\"\n")) ==
        "test.toml:4: hosts_file: expected a file name");
  CHECK(loadError(denyRule("report = \"yes\"\n")) == "test.toml:4: report: expected true or false");
  CHECK(loadError("[[rule]]\nname = \"r\"\naction = \"allow\"\nvia = \"a b\"\n") ==
        "test.toml:4: via: \"a b\" is not a name (letters, digits and -._ only)");
  CHECK(loadError("[[rule]]\nname = \"r\"\naction = \"allow\"\nreport = true\n") ==
        "test.toml:1: [[rule]] \"r\": report = true only makes sense on a deny rule");
  CHECK(loadError(denyRule("via = \"direct\"\n")) ==
        "test.toml:1: [[rule]] \"r\": via only makes sense on an allow rule");
  CHECK(loadError("[rule]\nname = \"r\"\n") == "test.toml:1: rule: use [[rule]] tables");
  CHECK(loadError("rule = [1, 2]\n") == "test.toml:1: rule: use [[rule]] tables");
}
