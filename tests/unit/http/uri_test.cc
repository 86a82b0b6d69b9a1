#include <catch2/catch.hpp>

#include "gatehouse/http/uri.h"

using namespace gatehouse::http;

TEST_CASE("absolute-form targets are split into scheme, authority and origin-form") {
  std::string error;
  auto uri = parseAbsoluteUri("http://Example.COM:8080/a/b?q=1#frag", error);
  REQUIRE(uri);
  CHECK(uri->scheme == "http");
  CHECK(uri->authority.host == "example.com");
  CHECK(uri->authority.port == 8080);
  CHECK(uri->originForm == "/a/b?q=1");
  CHECK(uri->hostHeader() == "example.com:8080");

  uri = parseAbsoluteUri("HTTP://example.com", error);
  REQUIRE(uri);
  CHECK(uri->originForm == "/");
  CHECK(uri->authority.port == 80);
  CHECK(uri->hostHeader() == "example.com");

  uri = parseAbsoluteUri("http://example.com?x", error);
  REQUIRE(uri);
  CHECK(uri->originForm == "/?x");

  uri = parseAbsoluteUri("http://[::1]:81/x", error);
  REQUIRE(uri);
  CHECK(uri->authority.ipv6);
  CHECK(uri->authority.host == "::1");
  CHECK(uri->hostHeader() == "[::1]:81");

  uri = parseAbsoluteUri("https://secure.example/", error);
  REQUIRE(uri);
  CHECK(uri->authority.port == 443);
}

TEST_CASE("bad absolute-form targets are refused with a reason") {
  std::string error;
  CHECK_FALSE(parseAbsoluteUri("http://user:pw@example.com/", error));
  CHECK(error.find("userinfo") != std::string::npos);
  CHECK_FALSE(parseAbsoluteUri("http://user@example.com/", error));
  CHECK_FALSE(parseAbsoluteUri("ftp://example.com/", error));
  CHECK_FALSE(parseAbsoluteUri("http:///path", error));
  CHECK_FALSE(parseAbsoluteUri("http://example.com:0/", error));
  CHECK_FALSE(parseAbsoluteUri("http://example.com:65536/", error));
  CHECK_FALSE(parseAbsoluteUri("http://example.com:8x/", error));
  CHECK_FALSE(parseAbsoluteUri("http://exa mple.com/", error));
  CHECK_FALSE(parseAbsoluteUri("http://[::1/", error));
  CHECK_FALSE(parseAbsoluteUri("http://[zz]/", error));
  CHECK_FALSE(parseAbsoluteUri("http://a/b\x01", error));
}

TEST_CASE("authority-form needs a host and a port") {
  std::string error;
  auto a = parseAuthorityForm("example.com:443", error);
  REQUIRE(a);
  CHECK(a->hostPort() == "example.com:443");
  a = parseAuthorityForm("[2001:db8::1]:8443", error);
  REQUIRE(a);
  CHECK(a->host == "2001:db8::1");
  CHECK(a->hostPort() == "[2001:db8::1]:8443");
  CHECK_FALSE(parseAuthorityForm("example.com", error));
  CHECK_FALSE(parseAuthorityForm("example.com:", error));
  CHECK_FALSE(parseAuthorityForm(":443", error));
  CHECK_FALSE(parseAuthorityForm("user@example.com:443", error));
  CHECK_FALSE(parseAuthorityForm("/path", error));
  CHECK_FALSE(parseAuthorityForm("::1:443", error));
}

TEST_CASE("request targets are classified") {
  CHECK(classifyTarget("/") == TargetForm::Origin);
  CHECK(classifyTarget("http://a/") == TargetForm::Absolute);
  CHECK(classifyTarget("a:443") == TargetForm::Authority);
  CHECK(classifyTarget("*") == TargetForm::Asterisk);
  CHECK(classifyTarget("") == TargetForm::Invalid);
}

TEST_CASE("uri: userinfo never reaches a log line") {
  using gatehouse::http::withoutUserinfo;
  CHECK(withoutUserinfo("http://user:secret@host/x?a@b") == "http://***@host/x?a@b");
  CHECK(withoutUserinfo("http://a@b:c@host:8080") == "http://***@host:8080");
  CHECK(withoutUserinfo("http://host/path@x") == "http://host/path@x");
  CHECK(withoutUserinfo("/origin@form") == "/origin@form");
  CHECK(withoutUserinfo("host:443") == "host:443");
}
