// Real clients: curl through the proxy, the way users run it.

#include <catch2/catch.hpp>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"

using namespace gatehouse::test;

TEST_CASE("curl -x fetches through the proxy") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("via curl\n")));
  ProxyHarness proxy;
  int rc = -1;
  std::string out =
      runCommand("curl -sS --max-time 10 -x http://127.0.0.1:" + std::to_string(proxy.port()) +
                     " http://" + upstream.hostPort() + "/x",
                 &rc);
  CHECK(rc == 0);
  CHECK(out == "via curl\n");
}

TEST_CASE("curl -p tunnels through CONNECT") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("tunneled\n")));
  ProxyHarness proxy;
  int rc = -1;
  std::string out =
      runCommand("curl -sS --max-time 10 -p -x http://127.0.0.1:" + std::to_string(proxy.port()) +
                     " http://" + upstream.hostPort() + "/t",
                 &rc);
  CHECK(rc == 0);
  CHECK(out == "tunneled\n");
}

TEST_CASE("curl gets the proxy's 502 with Proxy-Status for a refused upstream") {
  ProxyHarness proxy;
  int rc = -1;
  std::string out =
      runCommand("curl -sS -i --max-time 10 -x http://127.0.0.1:" + std::to_string(proxy.port()) +
                     " http://127.0.0.1:" + std::to_string(unusedPort()) + "/",
                 &rc);
  CHECK(rc == 0);
  CHECK(out.rfind("HTTP/1.1 502 Bad Gateway", 0) == 0);
  CHECK(out.find("Proxy-Status: gh-test; error=connection_refused") != std::string::npos);
}
