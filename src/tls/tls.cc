#include "gatehouse/tls/tls.h"

#include <cstdlib>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>

#include "gatehouse/uv/socket_address.h"
#include "gatehouse/uv/tcp.h"

namespace gatehouse::tls {

namespace {

std::string lastError() {
  unsigned long e = ERR_get_error();
  if (e == 0) {
    return "unknown error";
  }
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

ContextPtr wrap(SSL_CTX* ctx) {
  return ContextPtr(ctx, SSL_CTX_free);
}

int selectHttp11(SSL*, const unsigned char** out, unsigned char* outLen, const unsigned char* in,
                 unsigned inLen, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outLen, kHttp11, sizeof kHttp11, in, inLen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK; // a client not offering http/1.1 still gets it without ALPN
}

} // namespace

ContextPtr makeServerContext(const ServerOptions& options) {
  ContextPtr ctx = wrap(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.certFile.c_str()) != 1) {
    throw std::runtime_error("TLS certificate " + options.certFile + ": " + lastError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), options.keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("TLS key " + options.keyFile + ": " + lastError());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw std::runtime_error("TLS key " + options.keyFile + " does not match certificate " +
                             options.certFile);
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), selectHttp11, nullptr);
  if (!options.clientCaFile.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), options.clientCaFile.c_str(), nullptr) != 1) {
      throw std::runtime_error("TLS client CA " + options.clientCaFile + ": " + lastError());
    }
    // Ask for a certificate but let the handshake finish without one or with a bad one, so the
    // client gets an HTTP answer (496/495) rather than a TLS alert.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    // With peer verification on, OpenSSL refuses to resume a session (ID or ticket) whose
    // context is unset ("session id context uninitialized": an internal_error alert). The
    // context names what a session was verified against; a reload makes a new SSL_CTX whose
    // cache and ticket keys are fresh anyway.
    static const unsigned char kSessionContext[] = "gatehouse-client-ca";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

ContextPtr makeClientContext(const std::string& caFile) {
  ContextPtr ctx = wrap(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (caFile.empty()) {
    SSL_CTX_set_default_verify_paths(ctx.get());
  } else if (SSL_CTX_load_verify_locations(ctx.get(), caFile.c_str(), nullptr) != 1) {
    throw std::runtime_error("upstream CA " + caFile + ": " + lastError());
  }
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), kHttp11, sizeof kHttp11);
  return ctx;
}

std::string systemCaFile() {
  const char* fromEnvironment = std::getenv(X509_get_default_cert_file_env());
  return fromEnvironment != nullptr ? fromEnvironment : X509_get_default_cert_file();
}

ServerContextHolder::ServerContextHolder(ServerOptions options)
    : options_(std::move(options)), context_(makeServerContext(options_)) {}

std::string ServerContextHolder::reload() {
  try {
    context_.store(makeServerContext(options_));
    return "TLS certificate reloaded from " + options_.certFile;
  } catch (const std::exception& e) {
    return std::string(e.what()) + "; keeping the previous certificate";
  }
}

std::unique_ptr<Session> Session::create(const ContextPtr& context, bool isServer) {
  std::unique_ptr<Session> s(new Session);
  s->context_ = context;
  s->isServer_ = isServer;
  s->sawFirstByte_ = !isServer; // only a server checks that the peer speaks TLS at all
  s->ssl_ = SSL_new(context.get());
  s->in_ = BIO_new(BIO_s_mem());
  s->out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(s->ssl_, s->in_, s->out_);
  return s;
}

std::unique_ptr<Session> Session::server(const ContextPtr& context) {
  std::unique_ptr<Session> s = create(context, true);
  SSL_set_accept_state(s->ssl_);
  return s;
}

std::unique_ptr<Session> Session::client(const ContextPtr& context, const std::string& host) {
  std::unique_ptr<Session> s = create(context, false);
  uv::SocketAddress literal;
  if (uv::SocketAddress::fromNumeric(host, 0, literal)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(s->ssl_, host.c_str());
    SSL_set1_host(s->ssl_, host.c_str());
  }
  SSL_set_connect_state(s->ssl_);
  return s;
}

Session::~Session() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_); // frees both BIOs
  }
}

void Session::drainOutput(std::string& out) {
  char buf[16384];
  int n;
  while ((n = BIO_read(out_, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
}

Status Session::failWith(const char* where) {
  if (!isServer_) {
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      certificateError_ = true;
      error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
      ERR_clear_error();
      return Status::Failed;
    }
  }
  error_ = std::string(where) + ": " + lastError();
  return Status::Failed;
}

Status Session::pump(std::string& plain, std::string& out) {
  if (!handshakeDone_) {
    int rc = SSL_do_handshake(ssl_);
    drainOutput(out);
    if (rc != 1) {
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return Status::Ok;
      }
      return failWith("TLS handshake");
    }
    handshakeDone_ = true;
    if (!pendingPlain_.empty()) {
      std::string held;
      held.swap(pendingPlain_);
      Status s = send(held, out);
      if (s != Status::Ok) {
        return s;
      }
    }
  }
  char buf[16384];
  while (true) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain.append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    drainOutput(out);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      return Status::Ok;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      return Status::Closed;
    }
    return failWith("TLS read");
  }
}

Status Session::receive(std::string_view cipher, std::string& plain, std::string& out) {
  if (!sawFirstByte_ && !cipher.empty()) {
    sawFirstByte_ = true;
    if (static_cast<unsigned char>(cipher[0]) != 0x16) { // not a TLS handshake record
      error_ = "not a TLS handshake";
      return Status::WrongProtocol;
    }
  }
  if (!cipher.empty()) {
    BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
  }
  return pump(plain, out);
}

Status Session::send(std::string_view plain, std::string& out) {
  if (!handshakeDone_) {
    pendingPlain_.append(plain);
    if (!isServer_) {
      std::string ignored;
      return pump(ignored, out); // a client starts the handshake itself
    }
    return Status::Ok;
  }
  while (!plain.empty()) {
    int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (n <= 0) {
      drainOutput(out);
      return failWith("TLS write");
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  drainOutput(out);
  return Status::Ok;
}

void Session::shutdown(std::string& out) {
  if (handshakeDone_) {
    SSL_shutdown(ssl_);
    drainOutput(out);
  }
}

int Session::clientCertificate() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) {
    return 0;
  }
  return SSL_get_verify_result(ssl_) == X509_V_OK ? 1 : -1;
}

std::string Session::clientSubject() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) {
    return "";
  }
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

Session* sessionOf(const uv::TcpStream& stream) {
  return dynamic_cast<Session*>(stream.filter());
}

} // namespace gatehouse::tls
