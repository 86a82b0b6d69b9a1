#pragma once
// TLS with OpenSSL over memory BIOs: the event loop moves ciphertext, a Session turns it into
// plaintext and back. No socket I/O and no thread per connection here. A Session is the
// transport's StreamFilter: this layer sits above src/uv, which never sees TLS types.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "gatehouse/uv/stream_filter.h"

namespace gatehouse::uv {
class TcpStream;
} // namespace gatehouse::uv

namespace gatehouse::tls {

// A shared SSL_CTX, reference-counted so sessions outlive a reload that replaces it.
using ContextPtr = std::shared_ptr<SSL_CTX>;

// Settings of the proxy's own TLS listener.
struct ServerOptions {
  std::string certFile;
  std::string keyFile;
  std::string clientCaFile; // when set, client certificates are requested (495/496)
};
// Builds a server context: TLS 1.2 minimum, ALPN http/1.1. Throws std::runtime_error naming
// the file on a bad certificate or key.
ContextPtr makeServerContext(const ServerOptions& options);
// A client context for origins: verification on, the system store or `caFile`.
ContextPtr makeClientContext(const std::string& caFile);
// The CA bundle file the system store loads (SSL_CERT_FILE if set, else OpenSSL's default).
std::string systemCaFile();

// The listener's current context; reload() swaps it without touching live sessions.
class ServerContextHolder {
public:
  explicit ServerContextHolder(ServerOptions options);
  ContextPtr current() const { return context_.load(); }
  const ServerOptions& options() const { return options_; }
  // Re-reads certificate and key; on failure keeps the old ones. Returns a line for the log.
  std::string reload();

private:
  ServerOptions options_;
  std::atomic<ContextPtr> context_;
};

// What a session says after being fed bytes: Closed is the peer's close_notify,
// WrongProtocol first bytes that are no TLS handshake (plain HTTP to a TLS port, say).
using Status = uv::FilterStatus;

// One TLS connection's state machine, set on a TcpStream as its filter.
class Session final : public uv::StreamFilter {
public:
  static std::unique_ptr<Session> server(const ContextPtr& context);
  // `host` is sent as SNI (unless it is an IP literal) and checked against the certificate.
  static std::unique_ptr<Session> client(const ContextPtr& context, const std::string& host);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds received ciphertext: plaintext is appended to `plain`, ciphertext to send to `out`.
  Status receive(std::string_view cipher, std::string& plain, std::string& out) override;
  // Encrypts `plain` into `out` (held back until the handshake is done).
  Status send(std::string_view plain, std::string& out) override;
  // Appends a close_notify to `out` (nothing before the handshake is done).
  void shutdown(std::string& out) override;

  bool handshakeDone() const { return handshakeDone_; }
  size_t pendingBytes() const override { return pendingPlain_.size(); }
  const std::string& error() const override { return error_; }
  // True when the failure was certificate verification (tls_certificate_error).
  bool certificateError() const { return certificateError_; }
  // Client certificates (server side, with a client CA): 0 none, 1 verified, -1 invalid.
  int clientCertificate() const;
  std::string clientSubject() const;

private:
  Session() = default;
  static std::unique_ptr<Session> create(const ContextPtr& context, bool isServer);
  Status pump(std::string& plain, std::string& out);
  void drainOutput(std::string& out);
  Status failWith(const char* where);

  ContextPtr context_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;  // ciphertext from the peer (owned by ssl_)
  BIO* out_ = nullptr; // ciphertext for the peer (owned by ssl_)
  bool isServer_ = false;
  bool sawFirstByte_ = false;
  bool handshakeDone_ = false;
  bool certificateError_ = false;
  std::string pendingPlain_; // written before the handshake finished
  std::string error_;
};

// The TLS session of a stream (its filter), or null when it carries plain TCP.
Session* sessionOf(const uv::TcpStream& stream);

} // namespace gatehouse::tls
