// Listen addresses and listener options (src/config/listen_address.cc), called directly.

#include <catch2/catch.hpp>

#include "gatehouse/config/config.h"

using namespace gatehouse::config;

TEST_CASE("config listen addresses are numeric HOST:PORT or bracketed IPv6", "[config]") {
  std::string error;
  CHECK(parseListenAddress("127.0.0.1:3128", error)->toString() == "127.0.0.1:3128");
  CHECK(parseListenAddress("[::1]:0", error)->toString() == "[::1]:0");
  CHECK(parseListenAddress("0.0.0.0:65535", error)->port() == 65535);
  // localhost is the one name taken, as IPv4 loopback.
  CHECK(parseListenAddress("localhost:8080", error)->toString() == "127.0.0.1:8080");

  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& t : std::initializer_list<Case>{
           {"[::1]", "invalid listen address \"[::1]\" (expected [V6]:PORT)"},
           {"3128", "invalid listen address \"3128\" (expected HOST:PORT)"},
           {"127.0.0.1:", "invalid port in listen address \"127.0.0.1:\""},
           {"127.0.0.1:65536", "invalid port in listen address \"127.0.0.1:65536\""},
           {"127.0.0.1:123456", "invalid port in listen address \"127.0.0.1:123456\""},
           {"127.0.0.1:-1", "invalid port in listen address \"127.0.0.1:-1\""},
           {"proxy.example:3128",
            "listen address \"proxy.example:3128\" needs a numeric IPv4 or IPv6 host"},
       }) {
    INFO(t.text);
    error.clear();
    CHECK_FALSE(parseListenAddress(t.text, error));
    CHECK(error == t.error);
  }
}

TEST_CASE("config listener options follow the address after spaces", "[config]") {
  std::string error;
  auto plain = parseListener("127.0.0.1:3128", error);
  REQUIRE(plain);
  CHECK_FALSE(plain->proxyProtocol);
  auto spaced = parseListener("[::1]:3129   proxy_protocol ", error);
  REQUIRE(spaced);
  CHECK(spaced->proxyProtocol);
  CHECK(spaced->address.toString() == "[::1]:3129");

  CHECK_FALSE(parseListener("127.0.0.1:1 proxy_protocol tls", error));
  CHECK(error == "unknown listener option \"tls\" in \"127.0.0.1:1 proxy_protocol tls\" (known: "
                 "proxy_protocol)");
  CHECK_FALSE(parseListener("nowhere proxy_protocol", error));
  CHECK(error == "invalid listen address \"nowhere\" (expected HOST:PORT)");

  // The Config's lists, parsed: plain and TLS listeners apart.
  Config c;
  c.listen = {"127.0.0.1:1", "[::1]:2 proxy_protocol"};
  c.tlsListen = {"127.0.0.1:3 proxy_protocol"};
  REQUIRE(c.listeners(false).size() == 2);
  CHECK(c.listeners(false)[1].proxyProtocol);
  CHECK(c.listenAddresses().at(1).toString() == "[::1]:2");
  REQUIRE(c.listeners(true).size() == 1);
  CHECK(c.listeners(true)[0].proxyProtocol);
  CHECK(c.tlsListenAddresses().at(0).port() == 3);
}
