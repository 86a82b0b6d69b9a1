// PAC evaluation through libpacparser. The scripts use only string helpers and IP literals,
// so pacparser's resolver (getaddrinfo) never leaves the machine.

#include <catch2/catch.hpp>
#include <fstream>
#include <unistd.h>

#include "gatehouse/probe/pac.h"

using namespace gatehouse::probe;

TEST_CASE("FindProxyForURL results with the PAC helpers", "[probe]") {
  const std::string script = R"(
    function FindProxyForURL(url, host) {
      if (dnsDomainIs(host, ".internal.example")) return "DIRECT";
      if (isInNet(host, "127.0.0.0", "255.0.0.0")) return "PROXY 127.0.0.1:3128; DIRECT";
      if (shExpMatch(url, "https://*")) return "HTTPS 127.0.0.1:3129";
      return "SOCKS5 127.0.0.1:1080; PROXY 127.0.0.1:3128";
    })";
  PacEvaluation r = evaluatePac(script, "http://wiki.internal.example/", "wiki.internal.example");
  REQUIRE(r.ok);
  CHECK(r.result == "DIRECT");
  r = evaluatePac(script, "http://127.0.0.2:8080/", "127.0.0.2");
  REQUIRE(r.ok);
  CHECK(r.result == "PROXY 127.0.0.1:3128; DIRECT");
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].hostPort == "127.0.0.1:3128");
  r = evaluatePac(script, "https://a.example/", "a.example");
  CHECK(r.result == "HTTPS 127.0.0.1:3129");
  r = evaluatePac(script, "http://a.example/", "a.example");
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].kind == "SOCKS5");
}

TEST_CASE("PAC scripts that do not evaluate say why", "[probe]") {
  PacEvaluation r = evaluatePac("function FindProxyForURL(url, host) {", "http://a/", "a");
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("does not evaluate") != std::string::npos);
  r = evaluatePac("var x = 1;", "http://a/", "a");
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("FindProxyForURL failed") == 0);
}

TEST_CASE("PAC scripts are read from files and file:// URLs", "[probe]") {
  std::string path = "/tmp/gatehouse-pac-test-" + std::to_string(::getpid()) + ".pac";
  std::ofstream(path) << "function FindProxyForURL(u, h) { return \"DIRECT\"; }\n";
  std::string script, error;
  CHECK(loadPacScript(path, std::chrono::seconds(1), script, error));
  CHECK(script.find("FindProxyForURL") != std::string::npos);
  CHECK(loadPacScript("file://" + path, std::chrono::seconds(1), script, error));
  ::unlink(path.c_str());
  CHECK_FALSE(loadPacScript(path, std::chrono::seconds(1), script, error));
  CHECK(error.find("cannot read") == 0);
}

TEST_CASE("quotes in the URL reach FindProxyForURL intact, as %27", "[probe]") {
  // pacparser escapes ' itself into a buffer too short for it; the probe escapes first.
  PacEvaluation r = evaluatePac("function FindProxyForURL(url, host) { return 'PROXY ' + "
                                "(url.indexOf('%27%27%27') > 0 ? 'a:1' : 'b:2'); }",
                                "http://a/'''''''''''''''''''''''''''''''''", "a");
  REQUIRE(r.ok);
  CHECK(r.result == "PROXY a:1");
  CHECK_FALSE(
      evaluatePac("function FindProxyForURL(u, h) { return 'DIRECT'; }", "http://a/", "a'b").ok);
}
