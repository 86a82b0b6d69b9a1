// Proxy URLs, curl's environment rules, PAC result strings and credential checks.

#include <catch2/catch.hpp>
#include <map>

#include "gatehouse/probe/proxy_selection.h"

using namespace gatehouse::probe;

namespace {

EnvLookup envOf(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

bool hasNote(const ProxyUrl& url, std::string_view text) {
  for (const auto& n : url.notes) {
    if (n.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

bool hasFinding(const std::vector<std::string>& findings, std::string_view text) {
  for (const auto& f : findings) {
    if (f.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("proxy URLs with credentials, ports and IPv6", "[probe]") {
  std::string error;
  auto url = parseProxyUrl("http://alice:p%40ss%3Aw@Proxy.Example:3128/", error);
  REQUIRE(url);
  CHECK(url->scheme == "http");
  CHECK(url->host == "proxy.example");
  CHECK(url->port == 3128);
  CHECK(url->user == "alice");
  CHECK(url->password.reveal() == "p@ss:w");
  CHECK(url->display() == "http://proxy.example:3128");
  CHECK(url->notes.empty());

  url = parseProxyUrl("https://[::1]:8443", error);
  REQUIRE(url);
  CHECK(url->ipv6);
  CHECK(url->hostPort() == "[::1]:8443");

  url = parseProxyUrl("https://proxy", error);
  REQUIRE(url);
  CHECK(url->port == 443);
}

TEST_CASE("proxy URL forms that clients read differently are noted", "[probe]") {
  std::string error;
  auto url = parseProxyUrl("proxy.example", error);
  REQUIRE(url);
  CHECK(url->port == 1080);
  CHECK(hasNote(*url, "no port: curl uses 1080"));
  CHECK(hasNote(*url, "no scheme"));

  url = parseProxyUrl("http://bob:p@ss@proxy:3128", error);
  REQUIRE(url);
  CHECK(url->user == "bob");
  CHECK(url->password.reveal() == "p@ss");
  CHECK(hasNote(*url, "raw '@'"));

  url = parseProxyUrl("http://bob:100%@proxy:3128", error);
  REQUIRE(url);
  CHECK(url->password.reveal() == "100%");
  CHECK(hasNote(*url, "'%' as %25"));

  CHECK_FALSE(parseProxyUrl("http://bob:a/b@proxy:3128", error));
  CHECK(error.find("'/'") != std::string::npos);
  CHECK_FALSE(parseProxyUrl("ftp://proxy:21", error));
  CHECK_FALSE(parseProxyUrl("http://proxy:99999", error));
  CHECK_FALSE(parseProxyUrl("http://:3128", error));
  CHECK_FALSE(parseProxyUrl("http://[::1:3128", error));
}

TEST_CASE("percent-decoding counts malformed escapes", "[probe]") {
  int bad = 0;
  CHECK(percentDecode("a%20b%zz%4", &bad) == "a b%zz%4");
  CHECK(bad == 2);
}

TEST_CASE("curl's environment rules: scheme variable, case, all_proxy, no_proxy", "[probe]") {
  auto choice = chooseProxyFromEnvironment(
      "https", "example.com", envOf({{"HTTPS_PROXY", "http://up:1"}, {"all_proxy", "http://a:2"}}));
  CHECK_FALSE(choice.direct);
  CHECK(choice.decidedBy == "HTTPS_PROXY");
  CHECK(choice.proxy == "http://up:1");

  choice = chooseProxyFromEnvironment(
      "https", "example.com",
      envOf({{"HTTPS_PROXY", "http://up:1"}, {"https_proxy", "http://low:1"}}));
  CHECK(choice.decidedBy == "https_proxy");

  // curl ignores HTTP_PROXY (upper case); all_proxy then decides.
  choice = chooseProxyFromEnvironment(
      "http", "example.com", envOf({{"HTTP_PROXY", "http://up:1"}, {"ALL_PROXY", "http://all:2"}}));
  CHECK(choice.decidedBy == "ALL_PROXY");
  choice =
      chooseProxyFromEnvironment("http", "example.com", envOf({{"HTTP_PROXY", "http://up:1"}}));
  CHECK(choice.direct);
  CHECK(choice.explanation.find("ignores the upper-case") != std::string::npos);

  // Empty values count as unset; credentials never appear in the explanation.
  choice = chooseProxyFromEnvironment(
      "http", "example.com", envOf({{"http_proxy", ""}, {"all_proxy", "http://u:secret@p:3"}}));
  CHECK(choice.decidedBy == "all_proxy");
  CHECK(choice.explanation.find("secret") == std::string::npos);

  choice = chooseProxyFromEnvironment(
      "http", "www.example.com",
      envOf({{"http_proxy", "http://p:1"}, {"no_proxy", "localhost, .example.com"}}));
  CHECK(choice.direct);
  CHECK(choice.decidedBy == "no_proxy");

  // NO_PROXY is read only when no_proxy is unset.
  choice = chooseProxyFromEnvironment(
      "http", "a.example",
      envOf({{"http_proxy", "http://p:1"}, {"no_proxy", "other"}, {"NO_PROXY", "a.example"}}));
  CHECK_FALSE(choice.direct);
}

TEST_CASE("no_proxy matching like curl", "[probe]") {
  CHECK(matchNoProxy("*", "anything") == std::optional<std::string>("*"));
  CHECK(matchNoProxy("example.com", "example.com"));
  CHECK(matchNoProxy("example.com", "a.b.EXAMPLE.com."));
  CHECK(matchNoProxy(".example.com", "example.com"));
  CHECK_FALSE(matchNoProxy("example.com", "badexample.com"));
  CHECK(matchNoProxy("127.0.0.0/8", "127.1.2.3"));
  CHECK_FALSE(matchNoProxy("127.0.0.0/8", "128.0.0.1"));
  CHECK(matchNoProxy("10.0.0.1", "10.0.0.1"));
  CHECK(matchNoProxy("::1", "[::1]"));
  CHECK(matchNoProxy("fd00::/8", "fd12::1"));
  CHECK_FALSE(matchNoProxy("127.0.0.1", "localhost"));
  CHECK_FALSE(matchNoProxy("", "x"));
  CHECK_FALSE(matchNoProxy("1.2.3.4/99", "1.2.3.4"));
}

TEST_CASE("PAC result strings", "[probe]") {
  std::vector<std::string> problems;
  auto entries = parsePacResult("PROXY a:1; HTTPS b:2 ;SOCKS5 c:3; DIRECT", problems);
  CHECK(problems.empty());
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].kind == "PROXY");
  CHECK(entries[0].hostPort == "a:1");
  CHECK(entries[1].kind == "HTTPS");
  CHECK(entries[2].kind == "SOCKS5");
  CHECK(entries[3].kind == "DIRECT");
  entries = parsePacResult("proxy a:1; BOGUS x; PROXY ; DIRECT junk", problems);
  CHECK(entries.size() == 2);
  CHECK(problems.size() == 3);
}

TEST_CASE("credential checks describe without revealing", "[probe]") {
  auto findings = checkCredentials("dom:alice", " p@ss w\xc3\xa9 ");
  CHECK(hasFinding(findings, "user name: 9 bytes"));
  CHECK(hasFinding(findings, "user name contains ':'"));
  CHECK(hasFinding(findings, "password starts with whitespace"));
  CHECK(hasFinding(findings, "password ends with whitespace"));
  CHECK(hasFinding(findings, "2 non-ASCII byte(s), valid UTF-8 (9 characters)"));
  CHECK(hasFinding(findings, "'@' as %40"));
  for (const auto& f : findings) {
    CHECK(f.find("p@ss") == std::string::npos);
  }
  findings = checkCredentials("bob", "caf\xe9");
  CHECK(hasFinding(findings, "not valid UTF-8"));
  findings = checkCredentials("bob", "");
  CHECK(hasFinding(findings, "the password is empty"));
}

TEST_CASE("secrets are copied and wiped", "[probe]") {
  Secret a("xyz");
  Secret b;
  b = a;
  CHECK(b.reveal() == "xyz");
  Secret c(b);
  CHECK(c.reveal() == "xyz");
}
