// TLS: the HTTPS proxy listener (curl --proxy https://), plain HTTP to it (497), client
// certificates (495/496), certificate reload, and origins fetched over TLS.

#include <catch2/catch.hpp>
#include <future>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"
#include "../support/tls_fixtures.h"

using namespace gatehouse::test;

namespace {

gatehouse::config::Config tlsConfig(const TestCertificates& certs) {
  auto config = testConfig();
  config.tlsListen = {"127.0.0.1:0"};
  config.tlsCert = certs.path("server.pem");
  config.tlsKey = certs.path("server.key");
  config.upstreamCa = certs.path("ca.pem");
  return config;
}

std::string curlViaHttpsProxy(const ProxyHarness& proxy, const std::string& caFile,
                              const std::string& extra, const std::string& url, int* rc) {
  uint16_t port = const_cast<ProxyHarness&>(proxy).server().boundTlsAddresses().at(0).port();
  return runCommand("curl -sS --max-time 10 --proxy https://127.0.0.1:" + std::to_string(port) +
                        " --proxy-cacert " + caFile + " " + extra + " " + url + " 2>&1",
                    rc);
}

} // namespace

TEST_CASE("curl --proxy https:// forwards and tunnels through the TLS listener") {
  TestCertificates certs;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("over tls\n")));
  ProxyHarness proxy(tlsConfig(certs));
  int rc = -1;
  std::string url = "http://" + upstream.hostPort() + "/";
  CHECK(curlViaHttpsProxy(proxy, certs.path("ca.pem"), "", url, &rc) == "over tls\n");
  CHECK(rc == 0);
  CHECK(curlViaHttpsProxy(proxy, certs.path("ca.pem"), "-p", url, &rc) == "over tls\n");
  CHECK(rc == 0);
}

TEST_CASE("TLS inside TLS: an https:// origin through CONNECT on the TLS listener, with auth") {
  TestCertificates certs;
  FakeTlsUpstream origin(
      certs.path("server.pem"), certs.path("server.key"),
      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nnested\n");
  auto config = tlsConfig(certs);
  std::string users = certs.path("users");
  runCommand("htpasswd -cbs " + users + " alice secret 2>/dev/null");
  config.authFile = users;
  ProxyHarness proxy(config);
  int rc = -1;
  std::string out = curlViaHttpsProxy(
      proxy, certs.path("ca.pem"), "-U alice:secret --cacert " + certs.path("ca.pem"),
      "https://localhost:" + std::to_string(origin.port()) + "/", &rc);
  CHECK(rc == 0);
  CHECK(out == "nested\n");
  CHECK_FALSE(
      proxy.waitForLog({"access", "method=CONNECT", "user=\"alice\"", "status=200"}).empty());
}

TEST_CASE("plain HTTP to the TLS port gets 497 in plain text and the connection closes") {
  TestCertificates certs;
  ProxyHarness proxy(tlsConfig(certs));
  Socket client = Socket::connectTo(proxy.server().boundTlsAddresses().at(0).port());
  client.sendAll("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 497);
  CHECK(r.statusLine == "HTTP/1.1 497 HTTP Request Sent to HTTPS Port");
  CHECK(r.body.find("https://") != std::string::npos);
  CHECK(client.waitForClose());
  CHECK_FALSE(proxy.waitForLog({"plain_http_on_tls_port", "status=497"}).empty());
}

TEST_CASE("origins over TLS: a trusted certificate works, an untrusted one is 502") {
  TestCertificates certs;
  FakeTlsUpstream trusted(
      certs.path("server.pem"), certs.path("server.key"),
      "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure");
  FakeTlsUpstream rogue(certs.path("rogue.pem"), certs.path("rogue.key"),
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nrogue");
  ProxyHarness proxy(tlsConfig(certs));
  {
    Socket client = proxy.connect();
    client.sendAll("GET https://localhost:" + std::to_string(trusted.port()) +
                   "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.status == 200);
    CHECK(r.body == "secure");
  }
  {
    Socket client = proxy.connect();
    client.sendAll("GET https://localhost:" + std::to_string(rogue.port()) +
                   "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.status == 502);
    CHECK(r.header("proxy-status").find("error=tls_certificate_error") != std::string::npos);
    CHECK(r.header("proxy-status").find("self-signed") != std::string::npos);
    CHECK(r.body.find("rogue") == std::string::npos);
    CHECK_FALSE(proxy.waitForLog({"phase=tls", "error=tls_certificate_error"}).empty());
  }
  {
    // The name is checked too: 127.0.0.2 is not in the certificate.
    FakeTlsUpstream named(certs.path("server.pem"), certs.path("server.key"),
                          "HTTP/1.1 200 OK\r\n\r\n");
    Socket client = proxy.connect();
    client.sendAll("GET https://127.0.0.2:" + std::to_string(named.port()) +
                   "/ HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n");
    Response r = readResponse(client);
    CHECK(r.status == 502);
  }
}

TEST_CASE("a TLS origin that is not TLS: 502 tls_protocol_error") {
  TestCertificates certs;
  // A plain HTTP server answers the ClientHello with an HTTP error, as real ones do.
  FakeUpstream plain([](UpstreamPeer& peer) {
    peer.socket().readSome();
    peer.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  ProxyHarness proxy(tlsConfig(certs));
  Socket client = proxy.connect();
  client.sendAll("GET https://127.0.0.1:" + std::to_string(plain.port()) +
                 "/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  Response r = readResponse(client);
  CHECK(r.status == 502);
  CHECK(r.header("proxy-status").find("error=tls_protocol_error") != std::string::npos);
}

TEST_CASE("client certificates: none is 496, an unknown one 495, a valid one passes") {
  TestCertificates certs;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok\n")));
  auto config = tlsConfig(certs);
  config.tlsClientCa = certs.path("ca.pem");
  ProxyHarness proxy(config);
  std::string url = "http://" + upstream.hostPort() + "/";
  int rc = -1;
  auto code = [&](const std::string& extra) {
    return curlViaHttpsProxy(proxy, certs.path("ca.pem"), "-o /dev/null -w '%{http_code}' " + extra,
                             url, &rc);
  };
  CHECK(code("") == "496");
  CHECK(code("--proxy-cert " + certs.path("other-client.pem") + " --proxy-key " +
             certs.path("other-client.key")) == "495");
  CHECK(code("--proxy-cert " + certs.path("client.pem") + " --proxy-key " +
             certs.path("client.key")) == "200");
}

TEST_CASE("a verified client certificate can stand in for Basic auth") {
  TestCertificates certs;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok\n")));
  auto config = tlsConfig(certs);
  std::string users = certs.path("users");
  runCommand("htpasswd -cbs " + users + " alice secret 2>/dev/null");
  config.authFile = users;
  config.tlsClientCa = certs.path("ca.pem");
  config.tlsClientCertAuth = true;
  ProxyHarness proxy(config);
  int rc = -1;
  std::string url = "http://" + upstream.hostPort() + "/";
  CHECK(curlViaHttpsProxy(proxy, certs.path("ca.pem"),
                          "--proxy-cert " + certs.path("client.pem") + " --proxy-key " +
                              certs.path("client.key"),
                          url, &rc) == "ok\n");
  CHECK_FALSE(proxy.waitForLog({"access", "user=\"cert:/CN=alice\"", "status=200"}).empty());
}

TEST_CASE("the listener's certificate reloads without a restart - a bad one is refused") {
  TestCertificates certs;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok\n")));
  ProxyHarness proxy(tlsConfig(certs));
  std::string url = "http://" + upstream.hostPort() + "/";
  int rc = -1;
  CHECK(curlViaHttpsProxy(proxy, certs.path("ca.pem"), "", url, &rc) == "ok\n");
  certs.reissueServerWithNewCa();
  CHECK(proxy.server().reloadTls().find("reloaded") != std::string::npos);
  curlViaHttpsProxy(proxy, certs.path("ca.pem"), "", url, &rc);
  CHECK(rc != 0); // the old CA no longer matches
  CHECK(curlViaHttpsProxy(proxy, certs.path("ca2.pem"), "", url, &rc) == "ok\n");
  runCommand("echo broken > " + certs.path("server.pem"));
  CHECK(proxy.server().reloadTls().find("keeping the previous certificate") != std::string::npos);
  CHECK(curlViaHttpsProxy(proxy, certs.path("ca2.pem"), "", url, &rc) == "ok\n");
}

TEST_CASE("a bad certificate or key at start is a clear error") {
  TestCertificates certs;
  auto config = tlsConfig(certs);
  config.tlsKey = certs.path("rogue.key"); // does not match server.pem
  gatehouse::proxy::Server server(config);
  CHECK_THROWS_WITH(server.start(), Catch::Contains("rogue.key") && Catch::Contains("mismatch"));
  config.tlsCert = certs.path("missing.pem");
  gatehouse::proxy::Server missing(config);
  CHECK_THROWS_WITH(missing.start(), Catch::Contains("missing.pem"));
}

TEST_CASE("defect 10: with client certificates, TLS 1.2 sessions resume") {
  TestCertificates certs;
  auto config = tlsConfig(certs);
  config.tlsClientCa = certs.path("ca.pem");
  ProxyHarness proxy(config);
  const std::string port = std::to_string(proxy.server().boundTlsAddresses().at(0).port());
  const std::string session = certs.path("session.pem");
  auto handshake = [&](const std::string& sessionFlag) {
    int rc = -1;
    std::string out = runCommand(
        "openssl s_client -connect 127.0.0.1:" + port + " -tls1_2 -CAfile " + certs.path("ca.pem") +
            " -cert " + certs.path("client.pem") + " -key " + certs.path("client.key") + " " +
            sessionFlag + " " + session + " </dev/null 2>&1",
        &rc);
    return out;
  };
  std::string first = handshake("-sess_out");
  CHECK(first.find("New, TLSv1.2") != std::string::npos);
  std::string second = handshake("-sess_in");
  INFO(second);
  CHECK(second.find("Reused, TLSv1.2") != std::string::npos);
}

TEST_CASE("a TLS origin's body that ends at close is complete only with close_notify") {
  TestCertificates certs;
  // No Content-Length, no chunking: the body ends when the connection does (HTTP/1.0 style).
  const std::string response = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of the body";
  FakeTlsUpstream cut(certs.path("server.pem"), certs.path("server.key"), response,
                      /*closeNotify=*/false);
  FakeTlsUpstream whole(certs.path("server.pem"), certs.path("server.key"), response);
  ProxyHarness proxy(tlsConfig(certs));
  auto request = [](uint16_t port, const std::string& version) {
    return "GET https://localhost:" + std::to_string(port) + "/ " + version + "\r\nHost: x\r\n\r\n";
  };

  SECTION("without close_notify an HTTP/1.1 client gets no final chunk, only the end") {
    Socket client = proxy.connect();
    client.sendAll(request(cut.port(), "HTTP/1.1"));
    // The re-chunked body shows truncation by its missing last chunk; today the connection
    // is reset as well. Either way it ends (a keep-alive wait would time out and throw here).
    bool reset = false;
    std::string seen = client.readToEnd(&reset);
    CHECK(seen.find("0\r\n\r\n") == std::string::npos); // never the clean end of a chunked body
    CHECK_FALSE(
        proxy.waitForLog({"upstream_body_aborted", "close_notify", "(response aborted)"}).empty());
    CHECK_FALSE(proxy.waitForLog({"access", "status=200", "error=connection_terminated"}).empty());
  }
  SECTION("without close_notify an HTTP/1.0 client gets a reset, not an end of body") {
    Socket client = proxy.connect();
    client.sendAll(request(cut.port(), "HTTP/1.0"));
    bool reset = false;
    client.readToEnd(&reset);
    CHECK(reset);
  }
  SECTION("with close_notify both clients get the whole body and a clean end") {
    Socket client = proxy.connect();
    client.sendAll(request(whole.port(), "HTTP/1.1"));
    Response r = readResponse(client);
    CHECK(r.status == 200);
    CHECK(r.chunked);
    CHECK(r.body == "all of the body");
    Socket old = proxy.connect();
    old.sendAll(request(whole.port(), "HTTP/1.0"));
    bool reset = true;
    std::string seen = old.readToEnd(&reset);
    CHECK_FALSE(reset);
    CHECK(seen.size() >= 15);
    CHECK(seen.substr(seen.size() - 15) == "all of the body");
  }
}

TEST_CASE("a TLS client that ends a tunnel without close_notify half-closes it, bytes kept") {
  TestCertificates certs;
  // What the origin behind the tunnel read, and whether its end was a reset.
  std::promise<std::pair<std::string, bool>> seen;
  FakeUpstream origin([&seen](UpstreamPeer& peer) {
    bool reset = false;
    std::string data = peer.socket().readToEnd(&reset);
    seen.set_value({data, reset});
  });
  ProxyHarness proxy(tlsConfig(certs));
  Socket tcp = Socket::connectTo(proxy.server().boundTlsAddresses().at(0).port());
  timeval timeout{10, 0};
  ::setsockopt(tcp.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), certs.path("ca.pem").c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), tcp.fd());
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  REQUIRE(SSL_connect(ssl.get()) == 1);
  const std::string connect =
      "CONNECT " + origin.hostPort() + " HTTP/1.1\r\nHost: " + origin.hostPort() + "\r\n\r\n";
  REQUIRE(SSL_write(ssl.get(), connect.data(), static_cast<int>(connect.size())) > 0);
  std::string answer;
  char buf[1024];
  while (answer.find("\r\n\r\n") == std::string::npos) {
    int n = SSL_read(ssl.get(), buf, sizeof buf);
    REQUIRE(n > 0);
    answer.append(buf, static_cast<size_t>(n));
  }
  REQUIRE(answer.rfind("HTTP/1.1 200", 0) == 0);
  const std::string payload = "last bytes before a bare TCP close";
  REQUIRE(SSL_write(ssl.get(), payload.data(), static_cast<int>(payload.size())) > 0);
  ::shutdown(tcp.fd(), SHUT_WR); // FIN with no close_notify before it

  auto result = seen.get_future();
  REQUIRE(result.wait_for(kIoTimeout) == std::future_status::ready);
  auto [data, reset] = result.get();
  CHECK(data == payload);
  CHECK_FALSE(reset); // a half-close, as for a plain client, not a reset
}
