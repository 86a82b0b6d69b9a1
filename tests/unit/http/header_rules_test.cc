#include <catch2/catch.hpp>

#include "gatehouse/http/header_rules.h"

using namespace gatehouse::http;

namespace {
HeaderList list(std::initializer_list<std::pair<const char*, const char*>> fields) {
  HeaderList h;
  for (auto [n, v] : fields) {
    h.add(n, v);
  }
  return h;
}
std::vector<std::string> names(const HeaderList& h) {
  std::vector<std::string> out;
  for (const auto& f : h.fields()) {
    out.push_back(f.name);
  }
  return out;
}
} // namespace

TEST_CASE("hop-by-hop fields and those named by Connection are removed, order kept") {
  HeaderList in = list({{"A", "1"},
                        {"Connection", "x-one, X-Two"},
                        {"X-One", "a"},
                        {"B", "2"},
                        {"x-two", "b"},
                        {"Keep-Alive", "5"},
                        {"Proxy-Connection", "keep-alive"},
                        {"TE", "trailers"},
                        {"Trailer", "X"},
                        {"Upgrade", "h2c"},
                        {"Proxy-Authorization", "Basic eA=="},
                        {"Proxy-Authenticate", "Basic"},
                        {"Transfer-Encoding", "chunked"},
                        {"Content-Length", "1"},
                        {"A", "3"}});
  CHECK(names(withoutHopByHop(in)) == std::vector<std::string>{"A", "B", "A"});
}

TEST_CASE("Connection: Connection cannot make the proxy misbehave (tinyproxy CVE-2023-49606)") {
  HeaderList in =
      list({{"Connection", "Connection"}, {"Connection", "connection, close"}, {"X", "1"}});
  CHECK(names(withoutHopByHop(in)) == std::vector<std::string>{"X"});
}

TEST_CASE("Upgrade is kept when relaying a WebSocket upgrade") {
  HeaderList in = list({{"Upgrade", "websocket"}, {"Connection", "Upgrade"}});
  CHECK(names(withoutHopByHop(in, {.keepUpgrade = true})) == std::vector<std::string>{"Upgrade"});
}

TEST_CASE("persistence is judged from Connection tokens, including a trailing tab") {
  CHECK(wantsClose(list({{"Connection", "close\t"}}), 1));
  CHECK(wantsClose(list({{"Connection", "keep-alive, Close"}}), 1));
  CHECK_FALSE(wantsClose(list({}), 1));
  CHECK(wantsClose(list({}), 0));
  CHECK_FALSE(wantsClose(list({{"Connection", "Keep-Alive"}}), 0));
}

TEST_CASE("Via loop detection matches the received-by pseudonym only") {
  CHECK(viaNames(list({{"Via", "1.1 gh"}}), "gh"));
  CHECK(viaNames(list({{"Via", "1.0 a, 1.1 gh (Gatehouse)"}}), "gh"));
  CHECK(viaNames(list({{"Via", "HTTP/1.1 gh:3128"}}), "gh"));
  CHECK(viaNames(list({{"Via", "1.1 gh:3128"}}), "gh:3128"));
  CHECK_FALSE(viaNames(list({{"Via", "1.1 ghost"}}), "gh"));
  CHECK_FALSE(viaNames(list({{"Via", "1.1 other (gh)"}}), "gh"));
  CHECK_FALSE(viaNames(list({{"X-Via", "1.1 gh"}}), "gh"));
}

TEST_CASE("Max-Forwards is parsed strictly") {
  CHECK(maxForwards(list({{"Max-Forwards", "0"}})) == 0u);
  CHECK(maxForwards(list({{"Max-Forwards", " 12 "}})) == 12u);
  CHECK_FALSE(maxForwards(list({{"Max-Forwards", "-1"}})));
  CHECK_FALSE(maxForwards(list({{"Max-Forwards", "1x"}})));
  CHECK_FALSE(maxForwards(list({})));
}

TEST_CASE("token lists ignore empty elements and whitespace") {
  HeaderList h = list({{"Connection", " , a ,,b\t"}, {"connection", "c"}});
  auto tokens = h.tokens("CONNECTION");
  REQUIRE(tokens.size() == 3);
  CHECK(tokens[0] == "a");
  CHECK(tokens[1] == "b");
  CHECK(tokens[2] == "c");
}
