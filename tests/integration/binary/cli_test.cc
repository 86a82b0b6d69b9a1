// The gatehouse binary as users run it: --check, errors naming flag or file and line, and a
// running proxy reloading its user file on SIGHUP and when the file changes.

#include <catch2/catch.hpp>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/fake_upstream.h"
#include "../support/gatehouse_process.h"
#include "../support/proxy_harness.h"
#include "../support/tls_fixtures.h"
#include "gatehouse/auth/basic_credentials.h"

using namespace gatehouse::test;

namespace {

std::string tempFile(const std::string& name, const std::string& text) {
  std::string path = "/tmp/gatehouse-cli-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

int statusThrough(uint16_t proxyPort, const FakeUpstream& upstream, const std::string& userPass) {
  Socket client = Socket::connectTo(proxyPort);
  client.sendAll("GET http://" + upstream.hostPort() +
                 "/ HTTP/1.1\r\nHost: x\r\n"
                 "Proxy-Authorization: Basic " +
                 gatehouse::auth::encodeBase64(userPass) + "\r\n\r\n");
  return readResponse(client).status;
}

} // namespace

TEST_CASE("the binary's --check validates the shipped configuration") {
  int rc = -1;
  std::string out = runCommand(std::string(GATEHOUSE_BINARY) + " --config " +
                                   GATEHOUSE_SOURCE_DIR "/conf/gatehouse.toml --check 2>&1",
                               &rc);
  CHECK(rc == 0);
  CHECK(out.find("is valid") != std::string::npos);
}

TEST_CASE("configuration errors name the file and line, or the flag") {
  std::string bad = tempFile("bad.toml", "listen = [\"127.0.0.1:0\"]\n\nconect_timeout = \"2s\"\n");
  int rc = -1;
  std::string out =
      runCommand(std::string(GATEHOUSE_BINARY) + " --config " + bad + " --check 2>&1", &rc);
  CHECK(rc == 1);
  CHECK(out.find(bad + ":3: unknown key \"conect_timeout\"") != std::string::npos);
  out = runCommand(std::string(GATEHOUSE_BINARY) + " --connect-timeout 5x --check 2>&1", &rc);
  CHECK(rc != 0);
  CHECK(out.find("--connect-timeout") != std::string::npos);
  CHECK(out.find("invalid duration \"5x\"") != std::string::npos);
  out = runCommand(std::string(GATEHOUSE_BINARY) +
                       " --auth-file /nonexistent/users --listen 127.0.0.1:0 2>&1",
                   &rc);
  CHECK(rc == 1);
  CHECK(out.find("cannot read the user file") != std::string::npos);
}

TEST_CASE("the running binary reloads users on SIGHUP and when the file changes") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  std::string users = tempFile("users", "first:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n"); // pa:ss
  GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--auth-file", users,
                          "--ssrf-guard", "false", "--dns-servers",
                          "127.0.0.1:" + std::to_string(unusedPort())});
  std::string listening = proxy.waitForLine("listening on 127.0.0.1:");
  REQUIRE_FALSE(listening.empty());
  size_t at = listening.find("127.0.0.1:") + 10;
  uint16_t port = static_cast<uint16_t>(std::stoi(listening.substr(at)));
  CHECK(statusThrough(port, upstream, "first:pa:ss") == 200);
  CHECK(statusThrough(port, upstream, "second:pa:ss") == 407);

  std::ofstream(users, std::ios::app) << "second:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n";
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("reloaded 2 users").empty());
  CHECK(statusThrough(port, upstream, "second:pa:ss") == 200);

  // No signal this time: the changed modification time is noticed within a few seconds.
  std::ofstream(users, std::ios::app) << "third:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\nbroken line\n";
  CHECK_FALSE(proxy.waitForLine("reloaded 3 users").empty());
  CHECK_FALSE(proxy.waitForLine(":4: not a user:hash line; skipped").empty());
  CHECK(statusThrough(port, upstream, "third:pa:ss") == 200);

  proxy.signal(SIGTERM);
  CHECK_FALSE(proxy.waitForLine("stopped").empty());
  CHECK(proxy.wait() == 0);
}

TEST_CASE("the running binary reloads its TLS certificate on SIGHUP") {
  TestCertificates certs;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok\n")));
  GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                          certs.path("server.pem"), "--tls-key", certs.path("server.key"),
                          "--workers", "1", "--dns-servers",
                          "127.0.0.1:" + std::to_string(unusedPort())});
  std::string listening = proxy.waitForLine("listening for TLS on 127.0.0.1:");
  REQUIRE_FALSE(listening.empty());
  size_t at = listening.find("127.0.0.1:") + 10;
  const std::string proxyUrl =
      "https://127.0.0.1:" + std::to_string(std::stoi(listening.substr(at)));
  auto fetch = [&](const std::string& ca) {
    int rc = -1;
    std::string out = runCommand("curl -sS --max-time 10 --proxy " + proxyUrl + " --proxy-cacert " +
                                     ca + " http://" + upstream.hostPort() + "/ 2>&1",
                                 &rc);
    return rc == 0 ? out : "";
  };
  CHECK(fetch(certs.path("ca.pem")) == "ok\n");
  certs.reissueServerWithNewCa();
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("TLS certificate reloaded").empty());
  CHECK(fetch(certs.path("ca2.pem")) == "ok\n");
  CHECK(fetch(certs.path("ca.pem")).empty());
  proxy.signal(SIGTERM);
  CHECK(proxy.wait() == 0);
}
