// The egress policy through the real binary: the shipped company example passes --check,
// --check --explain says which rule decides and why (exit 0 allowed, 2 denied, 1 bad query)
// without starting anything or resolving anything, and an open proxy is refused at start.

#include <catch2/catch.hpp>
#include <fstream>
#include <unistd.h>

#include "../support/gatehouse_process.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

namespace {

const std::string kCompany = GATEHOUSE_SOURCE_DIR "/conf/company.toml";

std::string runGatehouse(const std::string& args, int* rc) {
  return runCommand(std::string(GATEHOUSE_BINARY) + " " + args + " 2>&1", rc);
}

std::string explainCompany(const std::string& query, int* rc) {
  return runGatehouse("--config " + kCompany + " --check --explain '" + query + "'", rc);
}

bool has(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) {
    return true;
  }
  UNSCOPED_INFO("missing \"" << needle << "\" in:\n" << text);
  return false;
}

} // namespace

TEST_CASE("the company example configuration passes --check", "[policy]") {
  int rc = -1;
  // --check loads what a start loads: the example's user file and log directory are not on
  // this machine, so the test points those two settings at ones that are.
  std::string users =
      writeTempFile("company.htpasswd", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
  std::string out = runGatehouse(
      "--config " + kCompany + " --auth-file " + users + " --access-log - --check", &rc);
  CHECK(rc == 0);
  CHECK(has(out, "is valid"));
  CHECK(has(out, "egress policy: 7 rules (1 in report mode), default deny, 16 host patterns, "
                 "SSRF guard on, route dc-squid"));
}

TEST_CASE("gatehouse --explain names the deciding rule and each rule's first failed condition",
          "[policy]") {
  int rc = -1;
  std::string out = explainCompany("alice[eng] CONNECT ssh.github.com:443 from 10.20.0.15", &rc);
  CHECK(rc == 0);
  CHECK(has(out, "rule \"intranet\" (line 55, allow): no match: groups [eng] share none of "
                 "[staff]"));
  CHECK(has(out, "rule \"ci-mirrors\" (line 65, allow): no match: client 10.20.0.15 not in "
                 "clients [10.99.0.0/16]"));
  CHECK(has(out, "decision: allow by rule \"eng-github-ssh\", via dc-squid"));

  out = explainCompany("bob[staff] GET http://x.ads.example.net/ from 10.1.1.1", &rc);
  CHECK(rc == 2);
  CHECK(has(out, "decision: deny by rule \"blocklist\""));
  CHECK(has(out, "details=\"rule blocklist\""));

  // Report mode: the request goes through, the would-be denial is named.
  out = explainCompany("bob[staff] GET http://a.tracker.example/ from 10.1.1.1", &rc);
  CHECK(rc == 0);
  CHECK(has(out, "would_deny, report mode lets the request go on"));
  CHECK(has(out, "(logged: would_deny rule=new-trackers)"));

  // No user, no matching rule: the default.
  out = explainCompany("GET http://example.org/ from 192.0.2.1", &rc);
  CHECK(rc == 2);
  CHECK(has(out, "no rule matched: default_action = deny"));
}

TEST_CASE("gatehouse --explain never resolves: cidrs on a name wait for an address", "[policy]") {
  int rc = -1;
  std::string out =
      explainCompany("alice[staff] GET http://wiki.corp.example.com:8080/ from 10.20.0.15", &rc);
  CHECK(rc == 0);
  CHECK(has(out, "depends on DNS: cidrs [10.40.0.0/16] depend on what wiki.corp.example.com "
                 "resolves to"));
  CHECK(has(out, "decision: undecided until wiki.corp.example.com is resolved"));

  out = explainCompany(
      "alice[staff] GET http://wiki.corp.example.com:8080/ from 10.20.0.15 resolved 10.40.1.2",
      &rc);
  CHECK(rc == 0);
  CHECK(has(out, "ssrf guard (on): 10.40.1.2 allowed (private allowed by cidrs 10.40.0.0/16)"));
  CHECK(has(out, "decision: allow by rule \"intranet\", via direct"));

  // Resolving to the metadata service instead: the rule does not list it, the guard refuses.
  out = explainCompany("alice[staff] GET https://www.example.com/ from 10.20.0.15 resolved "
                       "169.254.169.254",
                       &rc);
  CHECK(rc == 2);
  CHECK(has(out, "error=destination_ip_prohibited; details=\"link_local\""));
}

TEST_CASE("gatehouse --explain normalises odd IP literals before any rule sees them", "[policy]") {
  int rc = -1;
  std::string out = explainCompany("alice[staff] GET http://0x7f.1/ from 10.1.2.3", &rc);
  CHECK(rc == 2);
  CHECK(has(out, "host: \"0x7f.1\" normalised to 127.0.0.1"));
  CHECK(has(out, "ssrf guard (on): 127.0.0.1 refused (loopback)"));
  out = explainCompany("alice[staff] GET http://2130706433/ from 10.1.2.3", &rc);
  CHECK(has(out, "normalised to 127.0.0.1"));
  out = explainCompany("alice[staff] GET http://[::ffff:a9fe:a9fe]/ from 10.1.2.3", &rc);
  CHECK(rc == 2);
  CHECK(has(out, "refused (link_local via ipv4-mapped)"));
  out = explainCompany("alice[staff] GET http://1.2.3.256/ from 10.1.2.3", &rc);
  CHECK(rc == 2);
  CHECK(has(out, "refused: invalid IPv4 address"));
}

TEST_CASE("gatehouse --explain refuses a malformed query and needs --check", "[policy]") {
  int rc = -1;
  std::string out = explainCompany("alice GET http://x/", &rc);
  CHECK(rc == 1);
  CHECK(has(out, "--explain: expected [USER[GROUPS]] METHOD TARGET from CLIENT"));
  out = runGatehouse("--config " + kCompany + " --explain 'GET http://x/ from 1.2.3.4'", &rc);
  CHECK(rc != 0);
  CHECK(has(out, "--check"));
}

TEST_CASE("policy errors at start name the file and line", "[policy]") {
  std::string dir = "/tmp/gatehouse-policy-cli-" + std::to_string(::getpid());
  std::string list = dir + "-list.txt";
  std::string conf = dir + ".toml";
  std::ofstream(list) << "good.example\n# comment\nbad..example\n";
  std::ofstream(conf) << "listen = [\"127.0.0.1:0\"]\n\n[[rule]]\nname = \"b\"\n"
                         "action = \"deny\"\nhosts_file = \""
                      << list << "\"\n";
  int rc = -1;
  std::string out = runGatehouse("--config " + conf + " --check", &rc);
  CHECK(rc == 1);
  CHECK(has(out, conf + ":6: hosts_file:"));
  CHECK(has(out, list + ":3: empty label"));

  std::ofstream(conf) << "listen = [\"127.0.0.1:0\"]\n[[rule]]\nname = \"c\"\naction = "
                         "\"allow\"\nclients = [\"10.0.0.0/33\"]\n";
  out = runGatehouse("--config " + conf + " --check", &rc);
  CHECK(rc == 1);
  CHECK(has(out, conf + ":5: clients: invalid prefix length"));

  // A parent's password never reaches the terminal, even in an error.
  std::ofstream(conf) << "listen = [\"127.0.0.1:0\"]\n[[parent]]\nname = \"p\"\n"
                         "url = \"http://u:Sup3rSecret@host\"\n";
  out = runGatehouse("--config " + conf + " --check", &rc);
  CHECK(rc == 1);
  CHECK(has(out, conf + ":4: url: the port is required"));
  CHECK(out.find("Sup3rSecret") == std::string::npos);
  std::remove(list.c_str());
  std::remove(conf.c_str());
}

TEST_CASE("an open proxy on a non-loopback listener is refused unless allowed", "[policy]") {
  // --check stops before binding anything: no socket is opened here.
  int rc = -1;
  std::string out = runGatehouse("--listen 0.0.0.0:0 --check", &rc);
  CHECK(rc == 1);
  CHECK(has(out, "listening on 0.0.0.0:0 without authentication and without a rule "
                 "restricting clients"));
  out = runGatehouse("--listen 0.0.0.0:0 --allow-open-proxy true --check", &rc);
  CHECK(rc == 0);
  out = runGatehouse("--listen 127.0.0.1:0 --check", &rc);
  CHECK(rc == 0);
}
