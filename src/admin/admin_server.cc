#include "gatehouse/admin/admin_server.h"

#include <cctype>
#include <chrono>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>
#include <unordered_set>

#include <openssl/crypto.h>

#include "gatehouse/admin/live_view.h"
#include "gatehouse/admin/metrics.h"
#include "gatehouse/admin/pac.h"
#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/auth/user_file.h"
#include "gatehouse/http/parser.h"
#include "gatehouse/log/log.h"
#include "gatehouse/proxy/server.h"
#include "gatehouse/proxy/telemetry.h"
#include "gatehouse/uv/listen_socket.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::admin {

namespace {

// How long a verified Authorization value is trusted without hashing again (the live view
// polls every second; bcrypt costs tens of ms).
constexpr uint64_t kAuthMemoMs = 60'000;

uint64_t steadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

const char* reasonPhrase(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 503:
    return "Service Unavailable";
  default:
    return "Error";
  }
}

AdminReply text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

// Decodes the %XX escapes of a path segment (request ids are plain, but browsers may escape).
std::string percentDecoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string serialize(const AdminReply& reply, bool head) {
  std::string out =
      fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                  "Content-Security-Policy: default-src 'self'\r\n"
                  "Connection: close\r\n",
                  reply.status, reasonPhrase(reply.status), reply.contentType, reply.body.size());
  for (const auto& [name, value] : reply.fields) {
    out += name + ": " + value + "\r\n";
  }
  out += "\r\n";
  if (!head) {
    out += reply.body;
  }
  return out;
}

} // namespace

// The admin loop and what lives on it: the acceptor, the connections, and a timer that closes
// connections that did not send a request in time.
struct AdminServer::Runtime final : uv::TimerHandler {
  class Connection;
  AdminServer& owner;
  uv::Loop loop;
  uv::Acceptor* acceptor = nullptr;
  uv::Timer* timer = nullptr;
  std::unordered_set<Connection*> connections;
  http::ParserLimits limits;
  bool stopping = false;

  explicit Runtime(AdminServer& server) : owner(server) {
    limits.head.maxHeadBytes = kMaxHeadBytes;
    limits.head.maxFields = 100;
    limits.head.maxStartLine = 4096;
    limits.maxTargetLength = 4000;
  }
  void onTimer(uv::Timer& t) override;
  void stopOnLoop();
};

// One admin connection: reads one request head, answers it, closes.
class AdminServer::Runtime::Connection final : public uv::StreamHandler {
public:
  Connection(Runtime& runtime, uv::TcpStream* stream)
      : runtime_(runtime), stream_(stream),
        parser_(http::MessageParser::Type::Request, runtime.limits, nullptr),
        acceptedAt_(runtime.loop.now()) {
    runtime_.connections.insert(this);
    stream_->setHandler(this);
    if (stream_->startRead() != 0) {
      close();
    }
  }
  uint64_t acceptedAt() const { return acceptedAt_; }
  bool answered() const { return answered_; }

  void close() {
    if (!closing_) {
      closing_ = true;
      stream_->close();
    }
  }

  void respond(const AdminReply& reply, bool head) {
    answered_ = true;
    stream_->stopRead();
    if (stream_->write(serialize(reply, head)) != 0 || stream_->shutdown() != 0) {
      close();
    }
  }

  void onStreamRead(uv::TcpStream&, std::string_view data) override {
    if (answered_ || closing_) {
      return;
    }
    size_t used = 0;
    http::ParseStatus status = parser_.execute(data, used);
    if (status == http::ParseStatus::Error) {
      respond(text(parser_.errorStatus() >= 400 ? parser_.errorStatus() : 400,
                   "bad request: " + parser_.errorReason() + "\n"),
              false);
      return;
    }
    if (status == http::ParseStatus::NeedMore) {
      return;
    }
    const http::RequestHead& request = parser_.request();
    const bool head = request.method == "HEAD";
    const bool readOnly = request.method == "GET" || head;
    if (readOnly && parser_.framing() != http::BodyFraming::None) {
      respond(text(400, "the admin listener takes no request bodies\n"), head);
      return;
    }
    // Other methods get 405 from handle(); any body is never read (the connection closes).
    respond(
        runtime_.owner.handle(request.method, request.target, request.headers.get("authorization")),
        head);
  }
  void onStreamReadEnd(uv::TcpStream&, int) override { close(); }
  void onStreamWriteError(uv::TcpStream&, int) override { close(); }
  void onStreamShutdown(uv::TcpStream&, int) override { close(); }
  void onStreamClosed(uv::TcpStream&) override {
    runtime_.connections.erase(this);
    delete this;
  }

private:
  Runtime& runtime_;
  uv::TcpStream* stream_;
  http::MessageParser parser_;
  uint64_t acceptedAt_;
  bool answered_ = false;
  bool closing_ = false;
};

void AdminServer::Runtime::onTimer(uv::Timer& t) {
  const uint64_t now = loop.now();
  std::vector<Connection*> late;
  for (Connection* c : connections) {
    if (now - c->acceptedAt() >= kRequestTimeoutMs) {
      late.push_back(c);
    }
  }
  for (Connection* c : late) {
    c->close(); // a request never came, or the client does not read its answer
  }
  t.start(1000);
}

void AdminServer::Runtime::stopOnLoop() {
  stopping = true;
  if (acceptor != nullptr) {
    acceptor->close();
    acceptor = nullptr;
  }
  if (timer != nullptr) {
    timer->close();
    timer = nullptr;
  }
  std::vector<Connection*> live(connections.begin(), connections.end());
  for (Connection* c : live) {
    c->close();
  }
}

AdminServer::AdminServer(const config::Config& config, const proxy::Server& proxy)
    : config_(config), proxy_(proxy) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  if (!config_.adminAuthFile.empty()) {
    std::ifstream in(config_.adminAuthFile, std::ios::binary);
    if (!in) {
      throw std::runtime_error("cannot read admin_auth_file " + config_.adminAuthFile);
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::vector<std::string> warnings;
    users_ = auth::parseUserFile(content.str(), config_.adminAuthFile, false, warnings);
    for (const std::string& w : warnings) {
      log::diag().warn("admin_auth_file: {}", w);
    }
    if (users_->users.empty()) {
      throw std::runtime_error("admin_auth_file " + config_.adminAuthFile + " has no usable user");
    }
  }
  std::string error;
  auto address = config::parseListenAddress(config_.adminListen, error);
  if (!address) {
    throw std::runtime_error(error);
  }
  fd_ = uv::openListenSocket(*address, 64); // never shares a port (no SO_REUSEPORT)
  bound_ = uv::boundAddress(fd_);
  runtime_ = std::make_unique<Runtime>(*this);
  Runtime* rt = runtime_.get();
  rt->loop.setStopHandler([rt] { rt->stopOnLoop(); });
  rt->acceptor = uv::Acceptor::create(rt->loop, fd_, [rt](uv::TcpStream* stream, int status) {
    if (stream == nullptr) {
      log::diag().warn("admin accept failed: {}", uv::errorName(status));
      return;
    }
    if (rt->stopping || rt->connections.size() >= kMaxConnections) {
      stream->close(); // bounded: a client holding many connections gets no more
      return;
    }
    new Runtime::Connection(*rt, stream); // frees itself once its stream closed
  });
  rt->timer = uv::Timer::create(rt->loop, rt);
  rt->timer->start(1000);
  thread_ = std::thread([rt] { rt->loop.run(); });
}

void AdminServer::stop() {
  if (runtime_) {
    runtime_->loop.requestStop();
    if (thread_.joinable()) {
      thread_.join();
    }
    runtime_.reset();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool AdminServer::authorized(std::optional<std::string_view> authorization) {
  if (!users_) {
    return true;
  }
  if (!authorization) {
    return false;
  }
  const uint64_t now = steadyMs();
  if (!lastAccepted_.empty() && now < lastAcceptedUntil_ &&
      lastAccepted_.size() == authorization->size() &&
      CRYPTO_memcmp(lastAccepted_.data(), authorization->data(), lastAccepted_.size()) == 0) {
    return true;
  }
  auth::Refusal refusal = auth::Refusal::None;
  std::string scheme;
  auto credentials = auth::parseBasic(*authorization, refusal, scheme);
  if (!credentials) {
    return false;
  }
  bool ok = false;
  auto entry = users_->users.find(credentials->user);
  if (entry != users_->users.end()) {
    ok = auth::verifyPassword(credentials->password, entry->second.hash, false) ==
         auth::VerifyResult::Match;
  }
  OPENSSL_cleanse(credentials->password.data(), credentials->password.size());
  if (ok) {
    OPENSSL_cleanse(lastAccepted_.data(), lastAccepted_.size());
    lastAccepted_ = std::string(*authorization);
    lastAcceptedUntil_ = now + kAuthMemoMs;
  }
  return ok;
}

AdminReply AdminServer::handle(std::string_view method, std::string_view target,
                               std::optional<std::string_view> authorization) {
  if (method != "GET" && method != "HEAD") {
    AdminReply reply = text(405, "only GET and HEAD\n");
    reply.fields.emplace_back("Allow", "GET, HEAD");
    return reply;
  }
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query =
      target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);
  if (path == "/healthz") {
    return text(200, "ok\n");
  }
  if (path == "/readyz") {
    return draining() ? text(503, "draining\n") : text(200, "ready\n");
  }
  if (!authorized(authorization)) {
    AdminReply reply = text(401, "credentials required\n");
    reply.fields.emplace_back("WWW-Authenticate",
                              "Basic realm=\"gatehouse admin\", charset=\"UTF-8\"");
    return reply;
  }
  std::vector<const proxy::WorkerTelemetry*> workers;
  for (const auto& t : proxy_.telemetry()) {
    workers.push_back(t.get());
  }
  if (path == "/metrics") {
    return {200, kMetricsContentType, renderMetrics(workers, proxy_.counters()), {}};
  }
  if (path == "/proxy.pac") {
    // From the configuration in place now: pac_* keys and listeners follow a SIGHUP.
    auto published = proxy_.published();
    if (!published) {
      return text(503, "not started\n");
    }
    std::string fallback;
    if (!published->bound.empty()) {
      fallback = published->bound.front().toString();
    }
    return {200, kPacContentType, renderPac(*published->config, fallback), {}};
  }
  if (path == "/" || path.substr(0, 10) == "/exchange/") {
    return {200, "text/html; charset=utf-8", std::string(liveViewHtml()), {}};
  }
  if (path == "/live.css") {
    return {200, "text/css; charset=utf-8", std::string(liveViewCss()), {}};
  }
  if (path == "/live.js") {
    return {200, "text/javascript; charset=utf-8", std::string(liveViewScript()), {}};
  }
  if (path == "/api/exchanges") {
    uint64_t since = 0;
    if (query.substr(0, 6) == "since=") {
      std::string digits(query.substr(6, query.find('&') == std::string_view::npos
                                             ? std::string_view::npos
                                             : query.find('&') - 6));
      if (!digits.empty() && digits.size() < 20 &&
          digits.find_first_not_of("0123456789") == std::string::npos) {
        since = std::stoull(digits);
      }
    }
    return {200,
            "application/json",
            exchangesJson(workers, since,
                          proxy_.counters().exchangeSequence.load(std::memory_order_relaxed)),
            {}};
  }
  if (path.substr(0, 14) == "/api/exchange/") {
    if (auto json = exchangeJson(workers, percentDecoded(path.substr(14)))) {
      return {200, "application/json", *json, {}};
    }
    return {404, "application/json", "{\"error\":\"not among the recent exchanges\"}", {}};
  }
  return text(404, "not found\n");
}

} // namespace gatehouse::admin
