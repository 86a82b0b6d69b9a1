#pragma once
// Test certificates made with the openssl tool, and a TLS origin server on 127.0.0.1:0.

#include <atomic>
#include <string>
#include <thread>

namespace gatehouse::test {

// A temporary directory with: ca.pem/ca.key (the test CA), server.pem/server.key (CN and SAN
// localhost and 127.0.0.1, signed by the CA), rogue.pem/rogue.key (same names, self-signed),
// client.pem/client.key (signed by the CA), other-client.pem/.key (self-signed).
class TestCertificates {
public:
  TestCertificates();
  ~TestCertificates();
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  // Makes a new CA "ca2" and re-signs server.pem/server.key with it (for reload tests).
  void reissueServerWithNewCa();

private:
  std::string dir_;
};

// An HTTPS origin: each connection gets a TLS handshake with the given certificate, one
// request read, and `response` written back; then close_notify and close, or with
// `closeNotify` false a bare TCP close (as a truncating middlebox or a careless server does).
class FakeTlsUpstream {
public:
  FakeTlsUpstream(const std::string& certFile, const std::string& keyFile, std::string response,
                  bool closeNotify = true);
  ~FakeTlsUpstream();
  uint16_t port() const { return port_; }

private:
  void serve();
  void* ctx_ = nullptr;
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::string response_;
  bool closeNotify_ = true;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

} // namespace gatehouse::test
