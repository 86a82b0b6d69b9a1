#include <catch2/catch.hpp>

#include "config_loading.h"
#include "gatehouse/config/config.h"
#include "gatehouse/config/duration.h"
#include "gatehouse/config/port_list.h"

using namespace gatehouse::config;
using namespace gatehouse::config::testing;

TEST_CASE("durations take a unit") {
  CHECK(parseDurationMs("500ms") == 500u);
  CHECK(parseDurationMs("2s") == 2000u);
  CHECK(parseDurationMs("5m") == 300'000u);
  CHECK(parseDurationMs("1h") == 3'600'000u);
  CHECK_FALSE(parseDurationMs("5"));
  CHECK_FALSE(parseDurationMs("5x"));
  CHECK_FALSE(parseDurationMs("s"));
  CHECK_FALSE(parseDurationMs("-1s"));
  CHECK_FALSE(parseDurationMs("1.5s"));
  CHECK_FALSE(parseDurationMs("99999999999999999999s"));
  CHECK(formatDuration(1500) == "1500ms");
  CHECK(formatDuration(120'000) == "2m");
}

TEST_CASE("port lists take ports, ranges and *") {
  std::string error;
  auto list = PortList::parse("443,8443,9000-9100", error);
  REQUIRE(list);
  CHECK(list->allows(443));
  CHECK(list->allows(9050));
  CHECK_FALSE(list->allows(80));
  CHECK(list->toString() == "443,8443,9000-9100");
  CHECK(PortList::parse("*", error)->allows(1));
  CHECK_FALSE(PortList::parse("", error));
  CHECK_FALSE(PortList::parse("0", error));
  CHECK_FALSE(PortList::parse("65536", error));
  CHECK_FALSE(PortList::parse("100-10", error));
  CHECK_FALSE(PortList::parse("443,,80", error));
  CHECK_FALSE(PortList::parse("http", error));
}

TEST_CASE("a config file sets every key") {
  Config c;
  loadString(R"(
listen = ["127.0.0.1:8080", "[::1]:8080"]
connect_ports = "443,563"
connect_timeout = "3s"
read_timeout = "4s"
response_timeout = "5s"
idle_timeout = "6s"
request_head_timeout = "7s"
dns_timeout = "2s"
dns_servers = "127.0.0.1:5353"
dns_cache_size = 500
dns_negative_ttl = "0s"
log_level = "debug"
access_log = "off"
workers = 2
pseudonym = "edge1"
status_mode = "rfc"
allow_trace = true
max_head_size = "32KiB"
max_header_fields = 50
max_target_length = 4096
max_connections = 100
)",
             "test.toml", c);
  CHECK(c.listen.size() == 2);
  CHECK(c.listenAddresses().at(1).toString() == "[::1]:8080");
  CHECK(c.connectPorts.allows(563));
  CHECK(c.connectTimeoutMs == 3000);
  CHECK(c.requestHeadTimeoutMs == 7000);
  CHECK(c.dnsCacheSize == 500);
  CHECK(c.dnsNegativeTtlMs == 0); // 0s turns negative caching off
  CHECK(c.workers == 2);
  CHECK(c.pseudonym == "edge1");
  CHECK(c.statusMode == gatehouse::errors::StatusMode::Rfc);
  CHECK(c.allowTrace);
  CHECK(c.maxHeadSize == 32 * 1024);
  CHECK(c.maxConnections == 100);
}

TEST_CASE("config errors name the file and line") {
  CHECK(loadError("listen = \"127.0.0.1:1\"\n\nbogus_key = 1\n") ==
        "test.toml:3: unknown key \"bogus_key\"");
  CHECK(loadError("\nconnect_timeout = \"5x\"\n")
            .rfind("test.toml:2: connect_timeout: invalid duration", 0) == 0);
  CHECK(loadError("connect_ports = \"0\"\n").rfind("test.toml:1: connect_ports:", 0) == 0);
  CHECK(loadError("listen = [\"nowhere\"]\n").rfind("test.toml:1: listen:", 0) == 0);
  CHECK(loadError("listen = [\"localhost:99999\"]\n").rfind("test.toml:1: listen:", 0) == 0);
  CHECK(loadError("workers = \"many\"\n").rfind("test.toml:1: workers:", 0) == 0);
  CHECK(loadError("log_level = \"loud\"\n").rfind("test.toml:1: log_level:", 0) == 0);
  CHECK(loadError("pseudonym = \"has space\"\n").rfind("test.toml:1: pseudonym:", 0) == 0);
  CHECK(loadError("allow_trace = \"yes\"\n").rfind("test.toml:1: allow_trace:", 0) == 0);
  CHECK(loadError("dns_servers = \"dns.example\"\n").rfind("test.toml:1: dns_servers:", 0) == 0);
  CHECK(loadError("dns_negative_ttl = \"2h\"\n").rfind("test.toml:1: dns_negative_ttl:", 0) == 0);
  CHECK(loadError("dns_cache_size = -1\n").rfind("test.toml:1: dns_cache_size:", 0) == 0);
  CHECK(loadError("[section]\nx = 1\n").rfind("test.toml:1: unknown key", 0) == 0);
  // A TOML syntax error reports its line too.
  CHECK(loadError("a = 1\nthis is not toml\n").rfind("test.toml:2:", 0) == 0);
}

TEST_CASE("every setting has a flag spelled from its key") {
  for (const Setting& s : settings()) {
    CHECK(s.flag().rfind("--", 0) == 0);
    CHECK(s.flag().find('_') == std::string::npos);
  }
}

TEST_CASE("the shipped conf/gatehouse.toml is valid") {
  Config c;
  REQUIRE_NOTHROW(loadFile(GATEHOUSE_SOURCE_DIR "/conf/gatehouse.toml", c));
  CHECK(c.listen.at(0) == "127.0.0.1:3128");
}

TEST_CASE("listen entries take a proxy_protocol option and drain_timeout is a duration",
          "[config]") {
  Config c;
  loadString("listen = [\"127.0.0.1:3128\", \"[::1]:3129 proxy_protocol\"]\n"
             "tls_listen = [\"127.0.0.1:3443 proxy_protocol\"]\ndrain_timeout = \"5s\"\n",
             "test.toml", c);
  auto plain = c.listeners(false);
  REQUIRE(plain.size() == 2);
  CHECK_FALSE(plain[0].proxyProtocol);
  CHECK(plain[1].proxyProtocol);
  CHECK(plain[1].address.toString() == "[::1]:3129");
  CHECK(c.listenAddresses().at(1).toString() == "[::1]:3129");
  CHECK(c.listeners(true).at(0).proxyProtocol);
  CHECK(c.drainTimeoutMs == 5000);
  CHECK(Config{}.drainTimeoutMs == 30'000);
  CHECK(loadError("listen = [\"127.0.0.1:1 proxy\"]\n")
            .rfind("test.toml:1: listen: unknown listener option \"proxy\"", 0) == 0);
  CHECK(loadError("drain_timeout = \"soon\"\n").rfind("test.toml:1: drain_timeout:", 0) == 0);
}

TEST_CASE("auth helper and group settings: argv lists, limits, exclusive backends") {
  Config c;
  loadString("auth_helper = [\"/bin/sh\", \"-c\", \"x y\"]\nauth_helper_children = 3\n"
             "auth_helper_concurrency = 8\nauth_helper_queue = 50\nauth_helper_timeout = \"2s\"\n"
             "auth_negative_ttl = \"10s\"\ngroup_helper = [\"/bin/true\", \"-b\", \"dc=x\"]\n"
             "group_cache_ttl = \"1m\"\ngroup_negative_ttl = \"20s\"\n"
             "auth_max_pending_checks = 8\n",
             "test.toml", c);
  CHECK(c.authHelper == std::vector<std::string>{"/bin/sh", "-c", "x y"});
  CHECK(c.authHelperChildren == 3u);
  CHECK(c.authHelperConcurrency == 8u);
  CHECK(c.authHelperQueue == 50u);
  CHECK(c.authHelperTimeoutMs == 2000u);
  CHECK(c.authNegativeTtlMs == 10'000u);
  CHECK(c.groupHelper.size() == 3);
  CHECK(c.groupCacheTtlMs == 60'000u);
  CHECK(c.groupNegativeTtlMs == 20'000u);
  CHECK(c.authMaxPendingChecks == 8u);
  c.listen = {"127.0.0.1:0"};
  CHECK_NOTHROW(validate(c));
  c.authFile = "/etc/users";
  CHECK_THROWS_WITH(validate(c), Catch::Contains("exclude each other"));
  c.authFile.clear();
  c.groupFile = "/etc/groups";
  CHECK_THROWS_WITH(validate(c), Catch::Contains("group_file and group_helper"));
  c.groupHelper.clear();
  c.authHelper.clear();
  CHECK_THROWS_WITH(validate(c), Catch::Contains("need authentication"));

  CHECK(loadError("\n\nauth_helper = [\"basic_ncsa_auth\"]\n") ==
        "test.toml:3: auth_helper: the helper program must be an absolute path, got "
        "\"basic_ncsa_auth\"");
  CHECK(loadError("auth_helper = [\"/nonexistent/helper\"]\n").find("is not executable") !=
        std::string::npos);
  CHECK(loadError("auth_helper_children = 0\n").find("test.toml:1:") == 0);
  CHECK(loadError("auth_helper = []\n").find("empty list") != std::string::npos);
}
