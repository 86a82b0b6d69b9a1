// The admin listener through real sockets: metric values against the traffic a test sent,
// health and readiness, its own Basic auth, the PAC file evaluated by Debian's pacparser, and
// the live view's JSON and page (the page in a real headless Chromium).

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"
#include "gatehouse/admin/admin_server.h"
#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/proxy/generation.h"

using namespace gatehouse::test;
using gatehouse::admin::AdminServer;
using gatehouse::auth::encodeBase64;

namespace {

// A throw-away directory removed at the end of the test.
struct TempDir {
  TempDir() {
    char dir[] = "/tmp/gatehouse-admin-XXXXXX";
    path = ::mkdtemp(dir);
  }
  ~TempDir() { runCommand("rm -rf " + path); }
  std::string path;
};

// An htpasswd file with one SHA-256-crypt user, made by Apache's htpasswd.
std::string makeUsers(const TempDir& dir, const std::string& user, const std::string& password) {
  std::string path = dir.path + "/users";
  int rc = -1;
  runCommand("htpasswd -b -c -5 " + path + " " + user + " " + password + " 2>/dev/null", &rc);
  REQUIRE(rc == 0);
  return path;
}

// The proxy in-process plus its admin listener on 127.0.0.1:0.
struct AdminFixture {
  explicit AdminFixture(gatehouse::config::Config config)
      : proxy((config.adminListen = "127.0.0.1:0", std::move(config))),
        admin(proxy.server().config(), proxy.server()) {
    admin.start();
  }
  uint16_t adminPort() const { return admin.boundAddress().port(); }
  Response get(const std::string& path, const std::string& extra = "") {
    Socket s = Socket::connectTo(adminPort());
    s.sendAll("GET " + path + " HTTP/1.1\r\nHost: admin\r\n" + extra + "\r\n");
    return readResponse(s);
  }
  ProxyHarness proxy;
  AdminServer admin;
};

// The samples of a Prometheus text body by name with labels.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') {
      size_t space = line.rfind(' ');
      out[line.substr(0, space)] = line.substr(space + 1);
    }
  }
  return out;
}

std::string getVia(const FakeUpstream& upstream, const std::string& path,
                   const std::string& extra = "") {
  return "GET http://" + upstream.hostPort() + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

// Scrapes until `name` has `value` (the access line is written just after the response).
std::map<std::string, std::string> scrapeUntil(AdminFixture& f, const std::string& name,
                                               const std::string& value) {
  auto deadline = std::chrono::steady_clock::now() + kIoTimeout;
  while (true) {
    Response r = f.get("/metrics");
    REQUIRE(r.status == 200);
    auto s = samples(r.body);
    if (s[name] == value || std::chrono::steady_clock::now() > deadline) {
      return s;
    }
    std::this_thread::yield();
  }
}

} // namespace

TEST_CASE("metrics: the values match the traffic sent (3 GETs answered 200, one 407)") {
  TempDir dir;
  auto config = testConfig();
  config.authFile = makeUsers(dir, "alice", "secret");
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("hello")));
  AdminFixture f(config);
  const std::string credentials =
      "Proxy-Authorization: Basic " + encodeBase64("alice:secret") + "\r\n";
  for (int i = 0; i < 3; ++i) {
    Socket client = f.proxy.connect(); // one connection each: the 2nd and 3rd hit the cache
    client.sendAll(getVia(upstream, "/" + std::to_string(i), credentials));
    Response r = readResponse(client);
    REQUIRE(r.status == 200);
  }
  Socket refused = f.proxy.connect();
  refused.sendAll(getVia(upstream, "/no-credentials"));
  REQUIRE(readResponse(refused).status == 407);

  auto s = scrapeUntil(f, "gatehouse_exchange_duration_seconds_count", "4");
  CHECK(s["gatehouse_requests_total{method=\"GET\",code=\"2xx\"}"] == "3");
  CHECK(s["gatehouse_requests_total{method=\"GET\",code=\"4xx\"}"] == "1");
  CHECK(s["gatehouse_proxy_errors_total{type=\"\",error=\"auth_required\"}"] == "1");
  CHECK(s["gatehouse_auth_refusals_total{reason=\"no_credentials\"}"] == "1");
  CHECK(s["gatehouse_policy_decisions_total{rule=\"default\",decision=\"allow\"}"] == "3");
  CHECK(s["gatehouse_policy_decisions_total{rule=\"auth_required\",decision=\"refuse\"}"] == "1");
  CHECK(s["gatehouse_auth_cache_hits_total"] == "2");
  CHECK(s["gatehouse_upstream_connect_seconds_count"] == "3");
  CHECK(s["gatehouse_upstream_connect_seconds_bucket{le=\"+Inf\"}"] == "3");
  // The first byte of an upstream's response: the proxy's own 407 is not counted.
  CHECK(s["gatehouse_first_byte_seconds_count"] == "3");
  CHECK(s["gatehouse_exchange_duration_seconds_bucket{le=\"+Inf\"}"] == "4");
  CHECK(std::stoull(s["gatehouse_upstream_connections_opened_total"]) +
            std::stoull(s["gatehouse_upstream_connection_reuses_total"]) ==
        3);
  CHECK(std::stoull(s["gatehouse_client_sent_bytes_total"]) > 3 * 5);
  CHECK(s["gatehouse_tunnels_active"] == "0");
  CHECK(s["gatehouse_workers"] == "1");
  CHECK(s.count("gatehouse_tunnels_total{code=\"2xx\"}") == 0);

  // A tunnel open now shows in the gauge, and once closed in the counter.
  Socket tunnel = f.proxy.connect();
  tunnel.sendAll("CONNECT " + upstream.hostPort() + " HTTP/1.1\r\nHost: x\r\n" + credentials +
                 "\r\n");
  REQUIRE(readResponse(tunnel, true).status == 200);
  CHECK(scrapeUntil(f, "gatehouse_tunnels_active", "1")["gatehouse_tunnels_active"] == "1");
  tunnel.close();
  s = scrapeUntil(f, "gatehouse_tunnels_total{code=\"2xx\"}", "1");
  CHECK(s["gatehouse_tunnels_total{code=\"2xx\"}"] == "1");
  CHECK(s["gatehouse_tunnels_active"] == "0");

  Response raw = f.get("/metrics");
  CHECK(raw.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("admin: health, readiness while draining, unknown paths and methods") {
  AdminFixture f(testConfig());
  CHECK(f.get("/healthz").status == 200);
  CHECK(f.get("/readyz").status == 200);
  f.admin.setDraining(true);
  CHECK(f.get("/readyz").status == 503);
  CHECK(f.get("/healthz").status == 200);
  f.admin.setDraining(false);
  CHECK(f.get("/readyz").status == 200);
  CHECK(f.get("/nothing").status == 404);
  Socket s = Socket::connectTo(f.adminPort());
  s.sendAll("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
  Response post = readResponse(s);
  CHECK(post.status == 405);
  CHECK(post.header("allow") == "GET, HEAD");
  Socket garbage = Socket::connectTo(f.adminPort());
  garbage.sendAll("\x01\x02 nonsense\r\n\r\n");
  CHECK(readResponse(garbage).status == 400);
}

TEST_CASE("admin: its own Basic auth guards all but /healthz and /readyz") {
  TempDir dir;
  auto config = testConfig();
  config.adminAuthFile = makeUsers(dir, "ops", "s3cret");
  AdminFixture f(config);
  CHECK(f.get("/healthz").status == 200);
  CHECK(f.get("/readyz").status == 200);
  Response denied = f.get("/metrics");
  CHECK(denied.status == 401);
  CHECK(denied.header("www-authenticate").find("Basic realm=") == 0);
  CHECK(f.get("/metrics", "Authorization: Basic " + encodeBase64("ops:wrong") + "\r\n").status ==
        401);
  CHECK(f.get("/metrics", "Authorization: Basic " + encodeBase64("ops:s3cret") + "\r\n").status ==
        200);
  CHECK(f.get("/", "Authorization: Basic " + encodeBase64("ops:s3cret") + "\r\n").status == 200);
}

TEST_CASE("admin: /proxy.pac evaluates as configured in pacparser") {
  auto config = testConfig();
  config.pacProxy = "proxy.example.test:3128";
  config.pacDirectDomains = {"intra.test"};
  config.pacDirectCidrs = {"127.10.0.0/16"};
  AdminFixture f(config);
  Response pac = f.get("/proxy.pac");
  REQUIRE(pac.status == 200);
  CHECK(pac.header("content-type") == "application/x-ns-proxy-autoconfig");
  TempDir dir;
  std::ofstream(dir.path + "/proxy.pac") << pac.body;
  // Debian's python3-pacparser runs FindProxyForURL. Names never reach isInNet (the PAC file
  // matches networks on IP literals only), so no DNS is asked; the addresses are loopback.
  std::ofstream(dir.path + "/eval.py")
      << "import pacparser, sys\n"
         "pacparser.init()\n"
         "pacparser.parse_pac_file(sys.argv[1])\n"
         "for url, host in [('http://intra.test/', 'intra.test'),\n"
         "                  ('http://www.intra.test/a', 'www.intra.test'),\n"
         "                  ('http://WWW.Intra.Test/a', 'WWW.Intra.Test'),\n"
         "                  ('http://notintra.test/', 'notintra.test'),\n"
         "                  ('http://127.10.3.4/', '127.10.3.4'),\n"
         "                  ('http://127.11.0.1/', '127.11.0.1'),\n"
         "                  ('https://other.test/', 'other.test')]:\n"
         "    print(host, pacparser.find_proxy(url, host))\n"
         "pacparser.cleanup()\n";
  int rc = -1;
  std::string out =
      runCommand("/usr/bin/python3 " + dir.path + "/eval.py " + dir.path + "/proxy.pac", &rc);
  REQUIRE(rc == 0);
  CHECK(out == "intra.test DIRECT\n"
               "www.intra.test DIRECT\n"
               "WWW.Intra.Test DIRECT\n"
               "notintra.test PROXY proxy.example.test:3128\n"
               "127.10.3.4 DIRECT\n"
               "127.11.0.1 PROXY proxy.example.test:3128\n"
               "other.test PROXY proxy.example.test:3128\n");
}

TEST_CASE("admin: /proxy.pac follows a reload of the pac settings") {
  auto config = testConfig();
  config.pacProxy = "proxy.example.test:3128";
  config.pacDirectDomains = {"before.test"};
  AdminFixture f(config);
  Response before = f.get("/proxy.pac");
  REQUIRE(before.status == 200);
  CHECK(before.body.find("before.test") != std::string::npos);

  gatehouse::proxy::Server& server = f.proxy.server();
  gatehouse::config::Config next = server.config();
  next.pacDirectDomains = {"after.test"};
  next.pacProxy = "proxy2.example.test:3128";
  server.reload(gatehouse::proxy::loadGeneration(next, 2, server.generation().get()));
  Response after = f.get("/proxy.pac");
  REQUIRE(after.status == 200);
  CHECK(after.body.find("after.test") != std::string::npos);
  CHECK(after.body.find("before.test") == std::string::npos);
  CHECK(after.body.find("proxy2.example.test:3128") != std::string::npos);
}

TEST_CASE("live view: recent exchanges as JSON, one by id, never credentials") {
  TempDir dir;
  auto config = testConfig();
  config.authFile = makeUsers(dir, "alice", "secret");
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("hello")));
  AdminFixture f(config);
  Socket client = f.proxy.connect();
  client.sendAll(getVia(upstream, "/wrong-password",
                        "Proxy-Authorization: Basic " + encodeBase64("alice:guess") + "\r\n"));
  REQUIRE(readResponse(client).status == 407);
  std::string line = f.proxy.waitForLog({"access", "/wrong-password"});
  REQUIRE_FALSE(line.empty());
  std::string id = line.substr(line.find("id=") + 3);
  id = id.substr(0, id.find(' '));

  Response list = f.get("/api/exchanges?since=0");
  CHECK(list.status == 200);
  CHECK(list.header("content-type") == "application/json");
  CHECK(list.body.find("\"id\":\"" + id + "\"") != std::string::npos);
  CHECK(list.body.find("\"auth_reason\":\"wrong password\"") != std::string::npos);
  CHECK(list.body.find("\"user\":\"alice\"") != std::string::npos);
  CHECK(list.body.find("guess") == std::string::npos);
  CHECK(list.body.find(encodeBase64("alice:guess")) == std::string::npos);
  Response one = f.get("/api/exchange/" + id);
  CHECK(one.status == 200);
  CHECK(one.body.find("\"status\":407") != std::string::npos);
  CHECK(f.get("/api/exchange/9.9.9").status == 404);
  size_t last = std::stoul(list.body.substr(8));
  CHECK(f.get("/api/exchanges?since=" + std::to_string(last)).body.find("\"exchanges\":[]") !=
        std::string::npos);
  Response page = f.get("/exchange/" + id);
  CHECK(page.status == 200);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  CHECK(f.get("/live.js").header("content-type") == "text/javascript; charset=utf-8");
}

TEST_CASE("live view: a request through the proxy appears in headless Chromium") {
  int rc = -1;
  runCommand("test -x /usr/bin/chromium", &rc);
  REQUIRE(rc == 0); // the test packages install it (tools/setup.sh --tests)
  TempDir dir;
  auto config = testConfig();
  config.authFile = makeUsers(dir, "alice", "secret");
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("hello")));
  AdminFixture f(config);
  Socket client = f.proxy.connect();
  client.sendAll(getVia(upstream, "/seen-in-chromium",
                        "Proxy-Authorization: Basic " + encodeBase64("alice:secret") + "\r\n"));
  REQUIRE(readResponse(client).status == 200);
  client.sendAll(getVia(upstream, "/refused-in-chromium",
                        "Proxy-Authorization: Basic " + encodeBase64("nobody:x") + "\r\n"));
  REQUIRE(readResponse(client).status == 407);
  std::string line = f.proxy.waitForLog({"access", "/refused-in-chromium"});
  REQUIRE_FALSE(line.empty());
  std::string id = line.substr(line.find("id=") + 3);
  id = id.substr(0, id.find(' '));

  auto dumpDom = [&](const std::string& path) {
    std::string profile = dir.path + "/profile";
    return runCommand("timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu "
                      "--disable-quic --no-first-run --disable-background-networking "
                      "--disable-component-update --disable-sync --user-data-dir=" +
                      profile + " --virtual-time-budget=5000 --dump-dom http://127.0.0.1:" +
                      std::to_string(f.adminPort()) + path + " 2>/dev/null");
  };
  std::string dom = dumpDom("/");
  CHECK(dom.find("/seen-in-chromium") != std::string::npos);
  CHECK(dom.find("/refused-in-chromium") != std::string::npos);
  CHECK(dom.find("class=\"state live\"") != std::string::npos);
  // The page of one request id tells its whole story.
  std::string story = dumpDom("/exchange/" + id);
  CHECK(story.find("data-field=\"auth_reason\">unknown user<") != std::string::npos);
  CHECK(story.find("data-field=\"end\">PA<") != std::string::npos);
  CHECK(story.find("data-field=\"user\">nobody<") != std::string::npos);
}
