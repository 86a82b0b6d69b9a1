// forwarded_for: off leaves the request alone; on replaces whatever the client sent with one
// line of ours, which a Connection header naming it cannot remove.

#include <catch2/catch.hpp>

#include "gatehouse/http/header_rules.h"
#include "gatehouse/policy/forwarded_for.h"

using namespace gatehouse;
using config::ForwardedFor;

namespace {
http::HeaderList planted() {
  http::HeaderList h;
  h.add("Host", "example.com");
  h.add("X-Forwarded-For", "127.0.0.1");
  h.add("x-forwarded-for", "10.0.0.1, 10.0.0.2");
  h.add("Forwarded", "for=192.0.2.1");
  h.add("Accept", "*/*");
  return h;
}
std::vector<std::string> lines(const http::HeaderList& h) {
  std::vector<std::string> out;
  for (const auto& f : h.fields()) {
    out.push_back(f.name + ": " + f.value);
  }
  return out;
}
policy::IpAddress ip(const char* text) {
  return *policy::IpAddress::parse(text);
}
} // namespace

TEST_CASE("forwarded_for off passes the client's fields through untouched", "[policy]") {
  CHECK(lines(policy::withForwardedFor(planted(), ForwardedFor::Off, ip("10.1.2.3"))) ==
        lines(planted()));
}

TEST_CASE("forwarded_for replaces planted values, never appends to them", "[policy]") {
  CHECK(lines(policy::withForwardedFor(planted(), ForwardedFor::XForwardedFor, ip("10.1.2.3"))) ==
        std::vector<std::string>{"Host: example.com", "Accept: */*", "X-Forwarded-For: 10.1.2.3"});
  CHECK(lines(policy::withForwardedFor(planted(), ForwardedFor::Forwarded, ip("10.1.2.3"))) ==
        std::vector<std::string>{"Host: example.com", "Accept: */*", "Forwarded: for=10.1.2.3"});
  CHECK(lines(policy::withForwardedFor({}, ForwardedFor::Forwarded, ip("2001:db8::7"))) ==
        std::vector<std::string>{"Forwarded: for=\"[2001:db8::7]\""});
  CHECK(lines(policy::withForwardedFor({}, ForwardedFor::XForwardedFor, ip("::ffff:10.9.8.7"))) ==
        std::vector<std::string>{"X-Forwarded-For: 10.9.8.7"});
}

TEST_CASE("a Connection header naming X-Forwarded-For cannot remove ours", "[policy]") {
  http::HeaderList request = planted();
  request.add("Connection", "X-Forwarded-For, Forwarded");
  // The order the request path uses: hop-by-hop first, then ours.
  http::HeaderList upstream = policy::withForwardedFor(http::withoutHopByHop(request),
                                                       ForwardedFor::XForwardedFor, ip("10.1.2.3"));
  CHECK(upstream.count("x-forwarded-for") == 1);
  CHECK(*upstream.get("x-forwarded-for") == "10.1.2.3");
  CHECK_FALSE(upstream.has("connection"));
  CHECK_FALSE(upstream.has("forwarded"));
}
