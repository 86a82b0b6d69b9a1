#pragma once
// A blocking client connection for the probe: TCP with poll()-bounded connect and reads, and
// optionally TLS (OpenSSL on the socket) to an https:// proxy. One probe step at a time, so
// no event loop.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <netdb.h>
#include <openssl/types.h>

namespace gatehouse::probe {

// One resolved address of the proxy.
struct ResolvedAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text; // "127.0.0.1:3128", "[::1]:3128"
};

// getaddrinfo for host:port; `error` set (and empty result) on failure.
std::vector<ResolvedAddress> resolve(const std::string& host, uint16_t port, std::string& error);

// What the TLS handshake with the proxy showed.
struct TlsInfo {
  bool ok = false;
  std::string version; // "TLSv1.3"
  std::string cipher;
  std::string alpn;    // negotiated protocol, empty when none
  std::string subject; // certificate subject (one line)
  std::string issuer;
  std::string notAfter;
  std::string verifyResult;   // "ok" or OpenSSL's verification error text
  bool verifySkipped = false; // --insecure
  std::string error;
};

// How a read ended.
enum class ReadOutcome { Data, Eof, Reset, Timeout, Error };

class Connection {
public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects within `timeout`; on failure `error` says why (errno text).
  bool connect(const ResolvedAddress& address, std::chrono::milliseconds timeout,
               std::string& error);
  // TLS handshake as a client. `host` is SNI and the name checked; `caFile` empty means the
  // system store; `insecure` skips verification but still reports it.
  bool startTls(const std::string& host, const std::string& caFile, bool insecure,
                std::chrono::milliseconds timeout, TlsInfo& info);
  bool sendAll(std::string_view data, std::string& error);
  // Appends what arrives (waiting up to `timeout` for the first byte).
  ReadOutcome readSome(std::string& out, std::chrono::milliseconds timeout, std::string& error);
  // True when the peer has closed (EOF or RST readable without blocking, no data pending).
  bool peerClosed();
  void close();
  bool open() const { return fd_ >= 0; }
  bool tls() const { return ssl_ != nullptr; }

private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

} // namespace gatehouse::probe
