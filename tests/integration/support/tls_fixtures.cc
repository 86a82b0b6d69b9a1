#include "tls_fixtures.h"

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy_harness.h"

namespace gatehouse::test {

namespace {
const char* kKey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
void run(const std::string& dir, const std::string& command) {
  int rc = -1;
  runCommand("cd " + dir + " && " + command + " >/dev/null 2>&1", &rc);
  if (rc != 0) {
    throw std::runtime_error("certificate setup failed: " + command);
  }
}
} // namespace

TestCertificates::TestCertificates() {
  char tmpl[] = "/tmp/gatehouse-tls-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  const std::string k = kKey;
  run(dir_, "openssl req -x509 " + k +
                " -keyout ca.key -out ca.pem -days 2 -subj '/CN=Gatehouse Test CA'");
  std::ofstream(dir_ + "/san.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  run(dir_, "openssl req " + k + " -keyout server.key -out server.csr -subj /CN=localhost");
  run(dir_, "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
            "server.pem -days 2 -extfile san.ext");
  run(dir_, "openssl req -x509 " + k +
                " -keyout rogue.key -out rogue.pem -days 2 -subj /CN=localhost -addext "
                "subjectAltName=DNS:localhost,IP:127.0.0.1");
  run(dir_, "openssl req " + k + " -keyout client.key -out client.csr -subj /CN=alice");
  run(dir_, "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
            "client.pem -days 2");
  run(dir_, "openssl req -x509 " + k +
                " -keyout other-client.key -out other-client.pem -days 2 -subj /CN=mallory");
}

TestCertificates::~TestCertificates() {
  runCommand("rm -rf " + dir_);
}

void TestCertificates::reissueServerWithNewCa() {
  const std::string k = kKey;
  run(dir_, "openssl req -x509 " + k +
                " -keyout ca2.key -out ca2.pem -days 2 -subj '/CN=Gatehouse Test CA 2'");
  run(dir_, "openssl req " + k + " -keyout server2.key -out server2.csr -subj /CN=localhost");
  run(dir_, "openssl x509 -req -in server2.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -out "
            "server2.pem -days 2 -extfile san.ext");
  run(dir_, "mv server2.pem server.pem && mv server2.key server.key");
}

FakeTlsUpstream::FakeTlsUpstream(const std::string& certFile, const std::string& keyFile,
                                 std::string response, bool closeNotify)
    : response_(std::move(response)), closeNotify_(closeNotify) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, certFile.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("fake TLS upstream: bad certificate");
  }
  ctx_ = ctx;
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listenFd_, 16);
  socklen_t len = sizeof addr;
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeTlsUpstream::~FakeTlsUpstream() {
  stopping_ = true;
  thread_.join();
  ::close(listenFd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

void FakeTlsUpstream::serve() {
  while (!stopping_) {
    pollfd p{listenFd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) {
          break;
        }
        request.append(buf, static_cast<size_t>(n));
      }
      SSL_write(ssl, response_.data(), static_cast<int>(response_.size()));
      if (closeNotify_) {
        SSL_shutdown(ssl);
      }
    }
    SSL_free(ssl);
    ::close(fd);
  }
}

} // namespace gatehouse::test
