// The TLS session on its own (src/tls/tls.cc): two Sessions, client and server, talking
// through strings in memory, with no socket and no loop.

#include <catch2/catch.hpp>
#include <string>

#include "../../integration/support/tls_fixtures.h"
#include "gatehouse/tls/tls.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"

using gatehouse::test::TestCertificates;
using gatehouse::tls::Session;
using gatehouse::tls::Status;

namespace {

// Both ends of one connection and the bytes in flight between them.
struct Link {
  std::unique_ptr<Session> client;
  std::unique_ptr<Session> server;
  std::string toServer;
  std::string toClient;
  std::string serverPlain; // what the server's application read
  std::string clientPlain;
  Status serverStatus = Status::Ok;
  Status clientStatus = Status::Ok;

  // Delivers what is in flight, both ways, until nothing is (bounded: a handshake takes a
  // few round trips).
  void run() {
    for (int round = 0; round < 10 && (!toServer.empty() || !toClient.empty()); ++round) {
      if (!toServer.empty()) {
        std::string bytes = std::move(toServer);
        toServer.clear();
        serverStatus = server->receive(bytes, serverPlain, toClient);
      }
      if (!toClient.empty()) {
        std::string bytes = std::move(toClient);
        toClient.clear();
        clientStatus = client->receive(bytes, clientPlain, toServer);
      }
    }
  }
};

Link connect(const TestCertificates& certs, const std::string& caFile, const std::string& host) {
  Link link;
  auto serverContext =
      gatehouse::tls::makeServerContext({certs.path("server.pem"), certs.path("server.key"), ""});
  link.server = Session::server(serverContext);
  link.client = Session::client(gatehouse::tls::makeClientContext(caFile), host);
  return link;
}

} // namespace

TEST_CASE("a client and a server session handshake in memory and carry bytes both ways") {
  TestCertificates certs;
  Link link = connect(certs, certs.path("ca.pem"), "localhost");
  // The client's first write starts the handshake; its bytes wait for the handshake's end.
  REQUIRE(link.client->send("GET / HTTP/1.1\r\n\r\n", link.toServer) == Status::Ok);
  CHECK_FALSE(link.toServer.empty()); // a ClientHello, not the plaintext
  CHECK(link.toServer.find("GET /") == std::string::npos);
  CHECK(static_cast<unsigned char>(link.toServer[0]) == 0x16); // a handshake record
  link.run();
  CHECK(link.client->handshakeDone());
  CHECK(link.server->handshakeDone());
  CHECK(link.serverStatus == Status::Ok);
  CHECK(link.clientStatus == Status::Ok);
  CHECK(link.serverPlain == "GET / HTTP/1.1\r\n\r\n");

  REQUIRE(link.server->send("HTTP/1.1 200 OK\r\n\r\n", link.toClient) == Status::Ok);
  link.run();
  CHECK(link.clientPlain == "HTTP/1.1 200 OK\r\n\r\n");
  CHECK(link.server->clientCertificate() == 0); // none was asked for
}

TEST_CASE("a server session holds what it sends before the handshake and sends it after") {
  TestCertificates certs;
  Link link = connect(certs, certs.path("ca.pem"), "127.0.0.1");
  std::string early;
  CHECK(link.server->send("early bytes", early) == Status::Ok);
  CHECK(early.empty()); // nothing can be encrypted yet
  std::string nothing;
  link.server->shutdown(nothing);
  CHECK(nothing.empty()); // no close_notify before a handshake either
  REQUIRE(link.client->send("", link.toServer) == Status::Ok);
  link.run();
  REQUIRE(link.client->handshakeDone());
  CHECK(link.clientPlain == "early bytes");
}

TEST_CASE("close_notify ends a session as Closed, which is no failure") {
  TestCertificates certs;
  Link link = connect(certs, certs.path("ca.pem"), "localhost");
  REQUIRE(link.client->send("hello", link.toServer) == Status::Ok);
  link.run();
  REQUIRE(link.serverPlain == "hello");
  link.client->shutdown(link.toServer);
  REQUIRE_FALSE(link.toServer.empty());
  link.run();
  CHECK(link.serverStatus == Status::Closed);
  CHECK(link.server->error().empty());
  // Bytes the client sent just before its close_notify arrive with it.
  Link second = connect(certs, certs.path("ca.pem"), "localhost");
  REQUIRE(second.client->send("", second.toServer) == Status::Ok);
  second.run();
  REQUIRE(second.client->send("last words", second.toServer) == Status::Ok);
  second.client->shutdown(second.toServer);
  second.run();
  CHECK(second.serverPlain == "last words");
  CHECK(second.serverStatus == Status::Closed);
}

TEST_CASE("plain HTTP to a server session is recognised from its first byte") {
  TestCertificates certs;
  Link link = connect(certs, certs.path("ca.pem"), "localhost");
  std::string plain;
  std::string out;
  CHECK(link.server->receive("GET http://x/ HTTP/1.1\r\n", plain, out) == Status::WrongProtocol);
  CHECK(link.server->error() == "not a TLS handshake");
  CHECK(plain.empty());
  CHECK(out.empty());
}

TEST_CASE("a certificate the client does not trust fails the handshake as a certificate error") {
  TestCertificates certs;
  // The server's certificate is signed by ca.pem; the client trusts only the rogue one.
  Link link = connect(certs, certs.path("rogue.pem"), "localhost");
  REQUIRE(link.client->send("GET / HTTP/1.1\r\n\r\n", link.toServer) == Status::Ok);
  link.run();
  CHECK(link.clientStatus == Status::Failed);
  CHECK(link.client->certificateError());
  CHECK(link.client->error().find("certificate verify failed") != std::string::npos);
  CHECK(link.serverPlain.empty());

  // A name the certificate does not carry fails the same way.
  Link wrongName = connect(certs, certs.path("ca.pem"), "other.example.test");
  REQUIRE(wrongName.client->send("x", wrongName.toServer) == Status::Ok);
  wrongName.run();
  CHECK(wrongName.clientStatus == Status::Failed);
  CHECK(wrongName.client->certificateError());
}

TEST_CASE("garbage after a handshake record header fails the session with a reason") {
  TestCertificates certs;
  Link link = connect(certs, certs.path("ca.pem"), "localhost");
  std::string plain;
  std::string out;
  // Starts like a handshake record (0x16) but is not a valid one.
  CHECK(link.server->receive(std::string("\x16\x03\x01\x00\x05hello", 10), plain, out) ==
        Status::Failed);
  CHECK(link.server->error().find("TLS handshake") == 0);
}

TEST_CASE("sessionOf finds the TLS session a stream carries as its filter") {
  TestCertificates certs;
  gatehouse::uv::Loop loop;
  gatehouse::uv::TcpStream* stream = gatehouse::uv::TcpStream::create(loop);
  CHECK(gatehouse::tls::sessionOf(*stream) == nullptr);
  auto session = Session::server(
      gatehouse::tls::makeServerContext({certs.path("server.pem"), certs.path("server.key"), ""}));
  Session* raw = session.get();
  stream->setFilter(std::move(session));
  CHECK(gatehouse::tls::sessionOf(*stream) == raw);
  CHECK(stream->filter() == raw);
  CHECK_FALSE(stream->canReceiveSplice()); // a filtered stream is never spliced into
  stream->removeFilter();
  CHECK(gatehouse::tls::sessionOf(*stream) == nullptr);
  stream->close(); // freed in its close callback, which the loop's destructor runs
}
