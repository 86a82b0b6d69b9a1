// Blocking sockets with poll() deadlines; OpenSSL directly on the file descriptor.

#include "gatehouse/probe/connection.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gatehouse::probe {

namespace {

std::string addressText(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

std::string opensslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) {
    return "unknown TLS error";
  }
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string nameLine(X509_NAME* name) {
  if (name == nullptr) {
    return "";
  }
  char buf[512];
  X509_NAME_oneline(name, buf, sizeof buf);
  return buf;
}

// Waits for `events` on fd within the deadline; false on timeout.
bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) {
      return true;
    }
    if (n < 0 && errno != EINTR) {
      return false;
    }
  }
}

} // namespace

std::vector<ResolvedAddress> resolve(const std::string& host, uint16_t port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  std::vector<ResolvedAddress> out;
  if (rc != 0) {
    error = gai_strerror(rc);
    return out;
  }
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    ResolvedAddress a;
    std::memcpy(&a.address, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    a.text = addressText(ai->ai_addr);
    bool duplicate = false;
    for (const auto& seen : out) {
      duplicate = duplicate || seen.text == a.text;
    }
    if (!duplicate) {
      out.push_back(a);
    }
  }
  ::freeaddrinfo(list);
  return out;
}

Connection::~Connection() {
  close();
}

void Connection::close() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_ != nullptr) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Connection::connect(const ResolvedAddress& address, std::chrono::milliseconds timeout,
                         std::string& error) {
  close();
  fd_ = ::socket(address.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    error = std::strerror(errno);
    return false;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address.address), address.length);
  if (rc != 0 && errno != EINPROGRESS) {
    error = std::strerror(errno);
    close();
    return false;
  }
  if (rc != 0) {
    if (!waitFor(fd_, POLLOUT, deadline)) {
      error = "timed out after " + std::to_string(timeout.count()) + " ms";
      close();
      return false;
    }
    int soError = 0;
    socklen_t len = sizeof soError;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soError, &len);
    if (soError != 0) {
      error = std::strerror(soError);
      close();
      return false;
    }
  }
  // Back to blocking: every read is preceded by poll(); the timeouts below are a backstop.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

bool Connection::startTls(const std::string& host, const std::string& caFile, bool insecure,
                          std::chrono::milliseconds timeout, TlsInfo& info) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) {
    info.error = opensslError();
    return false;
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (caFile.empty()) {
    SSL_CTX_set_default_verify_paths(ctx_);
  } else if (SSL_CTX_load_verify_locations(ctx_, caFile.c_str(), nullptr) != 1) {
    info.error = "cannot load --proxy-cacert " + caFile + ": " + opensslError();
    return false;
  }
  // Verification result is read after the handshake so that an untrusted certificate is
  // described, not just refused; the connection is dropped afterwards unless --insecure.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  in6_addr scratch;
  bool ipLiteral = inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
                   inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
  if (!ipLiteral) {
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  }
  // Non-blocking handshake under poll so a peer that never answers (plain HTTP port) times out.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int rc = SSL_connect(ssl_);
    if (rc == 1) {
      break;
    }
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!waitFor(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        info.error = "TLS handshake timed out (is this port speaking TLS?)";
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
        return false;
      }
      continue;
    }
    info.error = err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                     ? "the proxy closed the connection during the TLS handshake"
                     : opensslError();
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    return false;
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  info.version = SSL_get_version(ssl_);
  info.cipher = SSL_get_cipher_name(ssl_);
  const unsigned char* alpn = nullptr;
  unsigned alpnLength = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpnLength);
  info.alpn.assign(reinterpret_cast<const char*>(alpn), alpnLength);
  if (X509* cert = SSL_get1_peer_certificate(ssl_)) {
    info.subject = nameLine(X509_get_subject_name(cert));
    info.issuer = nameLine(X509_get_issuer_name(cert));
    BIO* bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    info.notAfter.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
    X509_free(cert);
  }
  long verify = SSL_get_verify_result(ssl_);
  info.verifyResult = verify == X509_V_OK ? "ok" : X509_verify_cert_error_string(verify);
  info.verifySkipped = insecure;
  if (verify != X509_V_OK && !insecure) {
    info.error = "certificate not trusted: " + info.verifyResult +
                 " (give the proxy's CA with --proxy-cacert, or --insecure)";
    return false;
  }
  info.ok = true;
  return true;
}

bool Connection::sendAll(std::string_view data, std::string& error) {
  while (!data.empty()) {
    ssize_t n;
    if (ssl_ != nullptr) {
      n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
      if (n <= 0) {
        error = "TLS write failed: " + opensslError();
        return false;
      }
    } else {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        error = std::strerror(errno);
        return false;
      }
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

ReadOutcome Connection::readSome(std::string& out, std::chrono::milliseconds timeout,
                                 std::string& error) {
  if (fd_ < 0) {
    error = "not connected";
    return ReadOutcome::Error;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (true) {
    if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
      if (!waitFor(fd_, POLLIN, deadline)) {
        return ReadOutcome::Timeout;
      }
    }
    if (ssl_ != nullptr) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        return ReadOutcome::Data;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) {
        return ReadOutcome::Eof;
      }
      if (err == SSL_ERROR_WANT_READ) {
        continue;
      }
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        // A close without close_notify: what most proxies do.
        if (errno == ECONNRESET) {
          return ReadOutcome::Reset;
        }
        return ReadOutcome::Eof;
      }
      error = opensslError();
      return ReadOutcome::Error;
    }
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      return ReadOutcome::Data;
    }
    if (n == 0) {
      return ReadOutcome::Eof;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == ECONNRESET) {
      return ReadOutcome::Reset;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return ReadOutcome::Timeout;
    }
    error = std::strerror(errno);
    return ReadOutcome::Error;
  }
}

bool Connection::peerClosed() {
  if (fd_ < 0) {
    return true;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) {
    return false;
  }
  if (p.revents & (POLLHUP | POLLERR)) {
    return true;
  }
  char c;
  ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

} // namespace gatehouse::probe
