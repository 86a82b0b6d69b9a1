// The admin layer's renderers: the Prometheus exposition and the PAC file.

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

#include "gatehouse/admin/live_view.h"
#include "gatehouse/admin/metrics.h"
#include "gatehouse/admin/pac.h"
#include "gatehouse/config/config.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/telemetry.h"

using namespace gatehouse;

namespace {
// Samples by their full name with labels ("x_bucket{le=\"0.005\"}" -> value).
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    size_t space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}
} // namespace

TEST_CASE("metrics: summed over workers, histograms cumulative with +Inf == _count", "[admin]") {
  proxy::SharedCounters shared;
  shared.upstreamReuses = 4;
  proxy::WorkerTelemetry a(shared, {});
  proxy::WorkerTelemetry b(shared, {});
  proxy::ExchangeRecord r;
  r.id = "x";
  r.method = "GET";
  r.status = 200;
  r.startMs = 0;
  r.endMs = 7;
  a.onFinished(r, "127.0.0.1:1", 0);
  r.endMs = 70'000;
  b.onFinished(r, "127.0.0.1:1", 0);
  r.method = "BREW";
  r.status = 0;
  b.onFinished(r, "127.0.0.1:1", 0);
  std::string text = admin::renderMetrics({&a, &b}, shared);
  auto s = samples(text);
  CHECK(s["gatehouse_requests_total{method=\"GET\",code=\"2xx\"}"] == "2");
  CHECK(s["gatehouse_requests_total{method=\"other\",code=\"other\"}"] == "1");
  CHECK(s["gatehouse_upstream_connection_reuses_total"] == "4");
  CHECK(s["gatehouse_exchange_duration_seconds_bucket{le=\"0.005\"}"] == "0");
  CHECK(s["gatehouse_exchange_duration_seconds_bucket{le=\"0.01\"}"] == "1");
  CHECK(s["gatehouse_exchange_duration_seconds_bucket{le=\"60\"}"] == "1");
  CHECK(s["gatehouse_exchange_duration_seconds_bucket{le=\"+Inf\"}"] == "3");
  CHECK(s["gatehouse_exchange_duration_seconds_count"] == "3");
  CHECK(s["gatehouse_exchange_duration_seconds_sum"] == "140.007");
  // Every family has HELP and TYPE before its samples; counters end in _total.
  std::istringstream in(text);
  std::string lastType;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      lastType = line.substr(7, line.find(' ', 7) - 7);
      std::string kind = line.substr(line.rfind(' ') + 1);
      if (kind == "counter") {
        CHECK(lastType.size() > 6);
        CHECK(lastType.substr(lastType.size() - 6) == "_total");
      }
    } else if (!line.empty() && line[0] != '#') {
      CHECK(line.rfind(lastType, 0) == 0);
    }
  }
}

TEST_CASE("metrics: label values are escaped", "[admin]") {
  CHECK(admin::escapeLabel("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("pac: direct domains and networks, the proxy for the rest", "[admin]") {
  config::Config c;
  config::loadString("pac_proxy = \"proxy.example:3128\"\n"
                     "pac_direct_domains = [\"intra.test\", \".corp.test\"]\n"
                     "pac_direct_cidrs = [\"10.1.2.3/16\"]\n",
                     "pac.toml", c);
  std::string pac = admin::renderPac(c, "127.0.0.1:3128");
  CHECK(pac.find("function FindProxyForURL(url, host)") != std::string::npos);
  CHECK(pac.find("dnsDomainIs(host, \".intra.test\")") != std::string::npos);
  CHECK(pac.find("host == \"corp.test\"") != std::string::npos);
  CHECK(pac.find("isInNet(host, \"10.1.0.0\", \"255.255.0.0\")") != std::string::npos);
  CHECK(pac.find("return \"PROXY proxy.example:3128\";") != std::string::npos);
  CHECK(pac.find("dnsResolve") == std::string::npos);
  config::Config bare;
  CHECK(admin::renderPac(bare, "127.0.0.1:3128").find("PROXY 127.0.0.1:3128") != std::string::npos);
  CHECK_THROWS_WITH(config::loadString("pac_direct_cidrs = [\"10.0.0.0/33\"]\n", "p.toml", c),
                    Catch::Contains("p.toml:1"));
  CHECK_THROWS_WITH(config::loadString("pac_proxy = \"a\\\";b:1\"\n", "p.toml", c),
                    Catch::Contains("invalid PAC proxy"));
}

TEST_CASE("config: the admin listener never shares a proxy port", "[admin]") {
  config::Config c;
  c.listen = {"127.0.0.1:3128"};
  c.adminListen = "127.0.0.1:3128";
  CHECK_THROWS_WITH(config::validate(c), Catch::Contains("also a proxy listener"));
  c.adminListen = "0.0.0.0:3128";
  CHECK_THROWS(config::validate(c));
  c.adminListen = "127.0.0.1:9128";
  CHECK_NOTHROW(config::validate(c));
  CHECK_THROWS_WITH(config::loadString("access_log_format = \"apache\"\n", "f.toml", c),
                    Catch::Contains("f.toml:1"));
}

TEST_CASE("live view: summaries as JSON, merged across workers in order", "[admin]") {
  proxy::SharedCounters shared;
  proxy::WorkerTelemetry a(shared, {});
  proxy::WorkerTelemetry b(shared, {});
  proxy::ExchangeRecord r;
  r.method = "GET";
  r.target = "http://a.test/<script>";
  r.status = 200;
  r.id = "0.1.1";
  a.onFinished(r, "127.0.0.1:1", 0);
  r.id = "1.1.1";
  b.onFinished(r, "127.0.0.1:1", 0);
  r.id = "0.1.2";
  a.onFinished(r, "127.0.0.1:1", 0);
  std::string json = admin::exchangesJson({&a, &b}, 0, 3);
  CHECK(json.rfind("{\"last\":3,\"newest\":3,\"exchanges\":[{\"seq\":1,", 0) == 0);
  CHECK(json.find("\"id\":\"1.1.1\"") < json.find("\"id\":\"0.1.2\""));
  CHECK(admin::exchangesJson({&a, &b}, 3, 3) == "{\"last\":3,\"newest\":3,\"exchanges\":[]}");
  REQUIRE(admin::exchangeJson({&a, &b}, "1.1.1").has_value());
  CHECK_FALSE(admin::exchangeJson({&a, &b}, "9.9.9").has_value());
  CHECK(json.find("\"parent\":null") != std::string::npos);
  // The [[parent]] a request went through is shown with it.
  r.id = "1.1.2";
  r.parent = "corp";
  b.onFinished(r, "127.0.0.1:1", 0);
  CHECK(admin::exchangeJson({&a, &b}, "1.1.2")->find("\"parent\":\"corp\"") != std::string::npos);
}
