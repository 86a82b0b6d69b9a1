// Rules from TOML to decisions: order and first match, report mode, every condition, the
// two-step evaluation around DNS, the guard at connect time, routes, the open-proxy check,
// and configuration errors that name file and line.

#include <catch2/catch.hpp>
#include <fstream>
#include <unistd.h>

#include "gatehouse/config/config.h"
#include "gatehouse/policy/explain.h"
#include "gatehouse/policy/host_name.h"
#include "gatehouse/policy/rules.h"

using namespace gatehouse;
using namespace gatehouse::policy;

namespace {

config::Config load(const std::string& text) {
  config::Config c;
  config::loadString(text, "test.toml", c);
  config::validate(c);
  return c;
}

std::shared_ptr<const EgressPolicy> compile(const std::string& text) {
  return EgressPolicy::compile(load(text));
}

// Loads and compiles; returns the error message ("" if none).
std::string errorOf(const std::string& text) {
  try {
    compile(text);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

// A request as the proxy would describe it; the host is normalised like the real path.
struct Request {
  std::string client = "10.1.2.3";
  std::optional<std::string> user;
  std::vector<std::string> groups;
  std::string method = "GET";
  std::string host = "www.example.com";
  uint16_t port = 80;
  std::optional<std::string> resolved;

  // Keeps the strings the facts point into.
  NormalisedHost normalised;
  RuleFacts facts() {
    std::string error;
    auto h = normaliseHost(host, error);
    REQUIRE(h);
    normalised = *h;
    RuleFacts f;
    f.client = *IpAddress::parse(client);
    if (user) {
      f.user = *user;
    }
    f.groups = groups;
    f.host = normalised.text;
    f.hostAddress = normalised.address;
    f.port = port;
    f.method = method;
    f.connect = method == "CONNECT";
    if (resolved) {
      f.resolved = *IpAddress::parse(*resolved);
    }
    return f;
  }
};

std::string decidedBy(const EgressPolicy& p, Request r) {
  Decision d = p.decide(r.facts());
  if (d.pendingAddress) {
    return "pending";
  }
  return std::string(d.allowed() ? "allow " : "deny ") + std::string(d.ruleName());
}

} // namespace

TEST_CASE("rules apply in order, first match wins, then default_action", "[policy][rules]") {
  auto p = compile(R"(
default_action = "deny"
[[rule]]
name = "no-ads"
action = "deny"
hosts = ["*.ads.example"]
[[rule]]
name = "web"
action = "allow"
clients = ["10.0.0.0/8"]
[[rule]]
name = "never-reached-for-10"
action = "deny"
clients = ["10.0.0.0/8"]
)");
  Request r;
  CHECK(decidedBy(*p, r) == "allow web");
  r.host = "x.ads.example";
  CHECK(decidedBy(*p, r) == "deny no-ads");
  r.host = "www.example.com";
  r.client = "192.0.2.1";
  CHECK(decidedBy(*p, r) == "deny default");
  auto open = compile("");
  CHECK(decidedBy(*open, Request{}) == "allow default");
}

TEST_CASE("report mode logs would_deny and lets evaluation go on", "[policy][rules]") {
  auto p = compile(R"(
[[rule]]
name = "trial"
action = "deny"
report = true
hosts = [".social.example"]
[[rule]]
name = "enforced"
action = "deny"
hosts = ["bad.social.example"]
)");
  Request r;
  r.host = "www.social.example";
  Decision d = p->decide(r.facts());
  CHECK(d.allowed());
  CHECK(d.ruleName() == "default");
  REQUIRE(d.wouldDeny != nullptr);
  CHECK(d.wouldDeny->name == "trial");
  // A report rule never opens a hole in a later enforced one.
  r.host = "bad.social.example";
  d = p->decide(r.facts());
  CHECK_FALSE(d.allowed());
  CHECK(d.ruleName() == "enforced");
  CHECK(d.wouldDeny->name == "trial");
}

TEST_CASE("each condition narrows a rule", "[policy][rules]") {
  auto p = compile(R"(
default_action = "deny"
[[rule]]
name = "users"
action = "allow"
users = ["alice"]
ports = [8080]
[[rule]]
name = "groups"
action = "allow"
groups = ["eng", "ops"]
ports = "9000-9100"
[[rule]]
name = "methods"
action = "allow"
methods = ["get", "HEAD"]
hosts = ["api.example"]
[[rule]]
name = "tunnels"
action = "allow"
connect = true
ports = [443, "8443"]
[[rule]]
name = "plain-only"
action = "allow"
connect = false
hosts = ["plain.example"]
)");
  Request r;
  r.port = 8080;
  CHECK(decidedBy(*p, r) == "deny default");
  r.user = "alice";
  CHECK(decidedBy(*p, r) == "allow users");
  r.user = "Alice"; // user names are case-sensitive, as in the user file
  CHECK(decidedBy(*p, r) == "deny default");

  r = Request{};
  r.port = 9050;
  r.user = "bob";
  CHECK(decidedBy(*p, r) == "deny default");
  r.groups = {"sales", "ops"};
  CHECK(decidedBy(*p, r) == "allow groups");
  r.port = 9101;
  CHECK(decidedBy(*p, r) == "deny default");

  r = Request{};
  r.host = "API.example.";
  CHECK(decidedBy(*p, r) == "allow methods");
  r.method = "POST";
  CHECK(decidedBy(*p, r) == "deny default");

  r = Request{};
  r.method = "CONNECT";
  r.port = 8443;
  CHECK(decidedBy(*p, r) == "allow tunnels");
  r.method = "GET";
  CHECK(decidedBy(*p, r) == "deny default");
  r.host = "plain.example";
  r.port = 80;
  CHECK(decidedBy(*p, r) == "allow plain-only");
  r.method = "CONNECT";
  r.port = 443;
  CHECK(decidedBy(*p, r) == "allow tunnels");
  r.port = 444;
  CHECK(decidedBy(*p, r) == "deny default");
  CHECK(p->needsGroups());
}

TEST_CASE("cidrs decide at head time for literals, after DNS for names", "[policy][rules]") {
  auto p = compile(R"(
ssrf_guard = true
[[rule]]
name = "block-lab"
action = "deny"
cidrs = ["203.0.113.0/24"]
[[rule]]
name = "intranet"
action = "allow"
hosts = [".corp.example"]
cidrs = ["10.40.0.0/16", "fd00:40::/32"]
[[rule]]
name = "deny-other-corp"
action = "deny"
hosts = [".corp.example"]
)");
  Request r;
  r.host = "203.0.113.9";
  CHECK(decidedBy(*p, r) == "deny block-lab");
  r.host = "0xcb007109"; // 203.0.113.9 spelled as one hex number
  CHECK(decidedBy(*p, r) == "deny block-lab");

  // A name: pending at head time, decided per address at connect time.
  r.host = "wiki.corp.example";
  RuleFacts head = r.facts();
  Decision d = p->decide(head);
  CHECK(d.pendingAddress);
  CHECK(d.rule == nullptr);

  r.resolved = "10.40.3.4";
  ConnectVerdict v = p->atConnect(r.facts(), d);
  CHECK(v.allowed());
  CHECK(v.decision.ruleName() == "intranet");
  CHECK(v.detail.find("allowed by cidrs 10.40.0.0/16") != std::string::npos);
  CHECK(p->route(v.decision) == "direct");

  r.resolved = "10.41.3.4"; // private but not listed: the next corp rule denies
  v = p->atConnect(r.facts(), d);
  CHECK(v.outcome == ConnectVerdict::Outcome::RuleDenied);
  CHECK(v.detail == "rule deny-other-corp");

  r.resolved = "203.0.113.7"; // DNS rebinding onto the lab net: the first rule catches it
  v = p->atConnect(r.facts(), d);
  CHECK(v.outcome == ConnectVerdict::Outcome::RuleDenied);
  CHECK(v.detail == "rule block-lab");

  // A public name resolving to loopback: allowed by default, refused by the guard.
  r.host = "rebind.example.net";
  r.resolved = std::nullopt;
  d = p->decide(r.facts());
  CHECK(d.pendingAddress); // block-lab's cidrs need the address
  r.resolved = "127.0.0.1";
  v = p->atConnect(r.facts(), d);
  CHECK(v.outcome == ConnectVerdict::Outcome::GuardDenied);
  CHECK(v.detail == "loopback");
  r.resolved = "::ffff:169.254.169.254";
  CHECK(p->atConnect(r.facts(), d).detail == "link_local via ipv4-mapped");
  r.resolved = "93.184.216.34";
  CHECK(p->atConnect(r.facts(), d).allowed());
}

TEST_CASE("the guard's default depends on exposure - own listeners are always refused",
          "[policy][ssrf]") {
  CHECK_FALSE(guardEnabled(load(R"(listen = ["127.0.0.1:3128"])")));
  CHECK(guardEnabled(load(R"(listen = ["0.0.0.0:3128"]
allow_open_proxy = true)")));
  CHECK(guardEnabled(load(R"(listen = ["127.0.0.1:3128"]
auth_file = "users")")));
  CHECK_FALSE(guardEnabled(load(R"(listen = ["0.0.0.0:3128"]
auth_file = "users"
ssrf_guard = false)")));
  CHECK(guardEnabled(load(R"(ssrf_guard = true)")));

  auto p = compile(R"(listen = ["127.0.0.1:3128", "[::1]:3129"])");
  CHECK_FALSE(p->guardEnabled());
  Request r;
  r.host = "localhost";
  r.port = 3128;
  r.resolved = "127.0.0.1";
  Decision d = p->decide(r.facts());
  ConnectVerdict v = p->atConnect(r.facts(), d);
  CHECK(v.outcome == ConnectVerdict::Outcome::GuardDenied);
  CHECK(v.detail == "own listener");
  r.port = 8080; // the developer's local app stays reachable
  CHECK(p->atConnect(r.facts(), d).allowed());
  r.port = 3129;
  r.resolved = "::1";
  CHECK_FALSE(p->atConnect(r.facts(), d).allowed());
  // Listeners on port 0: the real ports are passed once bound.
  auto bound = EgressPolicy::compile(load(R"(listen = ["127.0.0.1:0"])"),
                                     {{*IpAddress::parse("127.0.0.1"), 41234}});
  r.port = 41234;
  r.resolved = "127.0.0.1";
  CHECK(bound->atConnect(r.facts(), d).detail == "own listener");
}

TEST_CASE("routes: rule via, upstream_proxy, direct", "[policy][rules]") {
  auto p = compile(R"(
upstream_proxy = "corp"
[[parent]]
name = "corp"
url = "http://proxy.corp.example:3128"
[[parent]]
name = "eu"
url = "http://u%40x:p%3Ass@[2001:db8::1]:8080/"
[[rule]]
name = "eu-sites"
action = "allow"
hosts = ["*.eu.example"]
via = "eu"
[[rule]]
name = "local"
action = "allow"
hosts = ["local.example"]
via = "direct"
)");
  Request r;
  CHECK(p->route(p->decide(r.facts())) == "corp");
  r.host = "a.eu.example";
  CHECK(p->route(p->decide(r.facts())) == "eu");
  r.host = "local.example";
  CHECK(p->route(p->decide(r.facts())) == "direct");
  CHECK(compile("")->route(Decision{}) == "direct");
  CHECK(p->summary() == "2 rules, default allow, 2 host patterns, SSRF guard off, route corp");

  config::Config c = load(R"(
[[parent]]
name = "eu"
url = "http://u%40x:p%3Ass@[2001:db8::1]:8080/"
)");
  const config::ParentSpec* eu = c.parent("eu");
  REQUIRE(eu != nullptr);
  CHECK(eu->host == "2001:db8::1");
  CHECK(eu->port == 8080);
  CHECK(eu->user.reveal() == "u@x");
  CHECK(eu->password.equals("p:ss"));
  CHECK_FALSE(eu->password.equals("p:sS"));
}

TEST_CASE("parent credentials come from a file, and never appear in errors", "[config]") {
  std::string dir = "/tmp/gatehouse-policy-" + std::to_string(::getpid());
  std::string file = dir + "-cred";
  std::ofstream(file) << "# parent login\n\nchild:s3cret-pass\n";
  config::Config c = load("[[parent]]\nname = \"p\"\nurl = \"http://10.0.0.1:3128\"\n"
                          "credentials_file = \"" +
                          file + "\"\n");
  CHECK(c.parent("p")->user.reveal() == "child");
  CHECK(c.parent("p")->password.reveal() == "s3cret-pass");
  std::ofstream(file) << "no colon here\n";
  std::string e = errorOf("[[parent]]\nname = \"p\"\nurl = \"http://10.0.0.1:3128\"\n"
                          "credentials_file = \"" +
                          file + "\"\n");
  CHECK(e == file + ":1: expected user:password");
  std::remove(file.c_str());

  for (const char* url : {"http://user:hunter2@host", "https://user:hunter2@host:1",
                          "http://user:hunter2@:3128", "http://user:hunter2@host:99999",
                          "http://hunter2@host:3128", "http://us%zz:hunter2@host:3128"}) {
    INFO(url);
    std::string error = errorOf("\n[[parent]]\nname = \"p\"\nurl = \"" + std::string(url) + "\"\n");
    CHECK(error.starts_with("test.toml:4: url: "));
    CHECK(error.find("hunter2") == std::string::npos);
  }
  CHECK(errorOf("[[parent]]\nname = \"p\"\nurl = \"http://a:b@h:1\"\ncredentials_file = \"/x\"\n")
            .find("both") != std::string::npos);
}

TEST_CASE("policy configuration errors name file and line", "[config][policy]") {
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\nclients = [\"10.0.0.0/8\",\n"
                "  \"10.0.0.1/8\"]\n")
            .starts_with("test.toml:5: clients: \"10.0.0.1/8\" has host bits set"));
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"deny\"\ncidrs = [\"nope\"]\n")
            .starts_with("test.toml:4: cidrs: invalid address"));
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"deny\"\nhosts = [\"a.*.b\"]\n")
            .starts_with("test.toml:4: hosts: \"a.*.b\": "));
  CHECK(errorOf("\n[[rule]]\nname = \"r\"\naction = \"deny\"\ncolour = \"red\"\n") ==
        "test.toml:5: unknown key \"colour\" in [[rule]]");
  CHECK(errorOf("\n\n[[rule]]\naction = \"deny\"\n") == "test.toml:3: [[rule]] needs a name");
  CHECK(errorOf("[[rule]]\nname = \"r\"\n") ==
        "test.toml:1: [[rule]] \"r\" needs an action (allow or deny)");
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"block\"\n") ==
        "test.toml:3: action: expected \"allow\" or \"deny\"");
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\nreport = true\n")
            .find("report = true only makes sense on a deny rule") != std::string::npos);
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"deny\"\nvia = \"direct\"\n")
            .find("via only makes sense on an allow rule") != std::string::npos);
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\nvia = \"nowhere\"\n") ==
        "test.toml:4: via: no [[parent]] named \"nowhere\" (or use \"direct\")");
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\n[[rule]]\nname = \"r\"\n"
                "action = \"deny\"\n") ==
        "test.toml:4: [[rule]] \"r\" is defined twice (first at line 1)");
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\nports = [0]\n")
            .starts_with("test.toml:4: ports: "));
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\nconnect = \"yes\"\n") ==
        "test.toml:4: connect: expected true or false");
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"allow\"\nusers = []\n")
            .starts_with("test.toml:4: users: empty list"));
  CHECK(errorOf("rule = 3\n") == "test.toml:1: rule: use [[rule]] tables");
  CHECK(errorOf("upstream_proxy = \"ghost\"\n") == "upstream_proxy: no [[parent]] named \"ghost\"");
  CHECK(errorOf("ssrf_guard = \"maybe\"\n").starts_with("test.toml:1: ssrf_guard: invalid value"));
  CHECK(errorOf("forwarded_for = \"yes\"\n").starts_with("test.toml:1: forwarded_for: invalid"));
  CHECK(errorOf("default_action = \"maybe\"\n").starts_with("test.toml:1: default_action: "));
  CHECK(errorOf("[[parent]]\nname = \"direct\"\nurl = \"http://h:1\"\n")
            .find("cannot be called \"direct\"") != std::string::npos);

  // A hosts file's bad lines are reported with the file's own name and line.
  std::string list = "/tmp/gatehouse-policy-list-" + std::to_string(::getpid()) + ".txt";
  std::ofstream(list) << "ok.example\n\nbad..example\n";
  std::string e =
      errorOf("[[rule]]\nname = \"r\"\naction = \"deny\"\nhosts_file = \"" + list + "\"\n");
  CHECK(e == "test.toml:4: hosts_file:\n  " + list + ":3: empty label");
  std::remove(list.c_str());
  CHECK(errorOf("[[rule]]\nname = \"r\"\naction = \"deny\"\nhosts_file = \"/nonexistent/x\"\n")
            .find("cannot read the hosts file") != std::string::npos);
}

TEST_CASE("the remaining policy settings load", "[config][policy]") {
  config::Config c = load(R"(
allow_open_proxy = true
forwarded_for = "forwarded"
ssrf_guard = "auto"
default_action = "deny"
upstream_proxy = "direct"
)");
  CHECK(c.allowOpenProxy);
  CHECK(c.forwardedFor == config::ForwardedFor::Forwarded);
  CHECK_FALSE(c.ssrfGuard.has_value());
  CHECK(c.defaultAction == config::RuleAction::Deny);
  CHECK(c.upstreamProxy.empty());
  CHECK(load("forwarded_for = \"x-forwarded-for\"").forwardedFor ==
        config::ForwardedFor::XForwardedFor);
}

TEST_CASE("an open proxy on a public listener is refused at start", "[policy][config]") {
  CHECK_FALSE(openProxyProblem(load(R"(listen = ["127.0.0.1:3128", "[::1]:3128"])")));
  auto problem = openProxyProblem(load(R"(listen = ["0.0.0.0:3128"])"));
  REQUIRE(problem);
  CHECK(problem->find("listening on 0.0.0.0:3128 without authentication") != std::string::npos);
  CHECK(openProxyProblem(load(R"(tls_listen = ["[::]:3129"]
tls_cert = "c"
tls_key = "k")")));
  CHECK_FALSE(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
allow_open_proxy = true)")));
  CHECK_FALSE(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
auth_file = "users")")));
  // Only some networks allowed, everyone else denied by default or by a catch-all rule.
  CHECK_FALSE(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
default_action = "deny"
[[rule]]
name = "office"
action = "allow"
clients = ["10.0.0.0/8"])")));
  CHECK_FALSE(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
[[rule]]
name = "office"
action = "allow"
clients = ["10.0.0.0/8"]
[[rule]]
name = "everyone-else"
action = "deny")")));
  // Not restricted: default allow, an allow rule for everyone, or a /0.
  CHECK(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
[[rule]]
name = "office"
action = "allow"
clients = ["10.0.0.0/8"])")));
  CHECK(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
default_action = "deny"
[[rule]]
name = "web"
action = "allow"
ports = [80, 443])")));
  CHECK(openProxyProblem(load(R"(listen = ["0.0.0.0:3128"]
default_action = "deny"
[[rule]]
name = "all"
action = "allow"
clients = ["0.0.0.0/0"])")));
}

TEST_CASE("explain queries parse and say which rule decides", "[policy][explain]") {
  std::string error;
  auto q = parseExplainQuery("alice[eng,ops] GET http://x.test/ from 10.1.2.3", error);
  REQUIRE(q);
  CHECK(*q->user == "alice");
  CHECK(q->groups == std::vector<std::string>{"eng", "ops"});
  CHECK(q->method == "GET");
  CHECK(q->client.toString() == "10.1.2.3");
  q = parseExplainQuery("CONNECT example.com:443 from ::1 resolved 93.184.216.34", error);
  REQUIRE(q);
  CHECK_FALSE(q->user);
  CHECK(q->resolved->toString() == "93.184.216.34");
  CHECK_FALSE(parseExplainQuery("alice GET http://x/", error));
  CHECK_FALSE(parseExplainQuery("alice get http://x/ from 1.2.3.4", error));
  CHECK_FALSE(parseExplainQuery("GET http://x/ from host.example", error));
  CHECK_FALSE(parseExplainQuery("GET http://x/ from 1.2.3.4 resolved", error));
  CHECK_FALSE(parseExplainQuery("a b GET http://x/ from 1.2.3.4", error));

  auto p = compile(R"(
[[rule]]
name = "no-ads"
action = "deny"
hosts = ["*.ads.example"]
)");
  bool denied = false;
  std::string text =
      explain(*p, *parseExplainQuery("GET http://a.ads.example/ from 10.0.0.1", error), denied);
  CHECK(denied);
  CHECK(text.find("rule \"no-ads\" (line 2, deny): matches (host matches *.ads.example)") !=
        std::string::npos);
  text = explain(*p, *parseExplainQuery("GET http://0x7f.1:99/ from 10.0.0.1", error), denied);
  CHECK_FALSE(denied); // guard off: loopback-only listener, no auth
  CHECK(text.find("normalised to 127.0.0.1") != std::string::npos);
  text = explain(*p, *parseExplainQuery("GET http://1.2.3.256/ from 10.0.0.1", error), denied);
  CHECK(denied);
  CHECK(text.find("invalid IPv4 address") != std::string::npos);
}
