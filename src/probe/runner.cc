// The probe's flow for each target: choose the proxy (flag, PAC or environment), resolve it,
// connect, TLS when https://, then per method (absolute-form GET for http://, CONNECT for
// https:// and on request for http://) one request without credentials and, when the proxy
// refuses it and credentials were given, one with them: on the same connection when the proxy
// kept it open, as browsers and curl do, otherwise on a new one.

#include <cstdio>
#include <cstdlib>
#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include "gatehouse/http/uri.h"
#include "gatehouse/probe/digest.h"
#include "gatehouse/probe/pac.h"
#include "gatehouse/probe/probe.h"
#include "gatehouse/probe/response_reader.h"

namespace gatehouse::probe {

namespace {

using Clock = std::chrono::steady_clock;

long msSince(Clock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// Credentials for the proxy, from --proxy-user or the proxy URL.
struct Credentials {
  bool present = false;
  std::string user;
  Secret password;
  std::string source;
};

// The proxy connection of one method run, reopened when the proxy closes it.
class ProxySession {
public:
  ProxySession(const ProxyUrl& proxy, const Options& options, MethodRun& run)
      : proxy_(proxy), options_(options), run_(run) {}

  // Resolves (once), connects and does TLS; records each step.
  bool open(bool reconnect) {
    if (addresses_.empty()) {
      auto start = Clock::now();
      std::string error;
      addresses_ = resolve(proxy_.host, proxy_.port, error);
      Step step{"resolve", !addresses_.empty(), "", msSince(start)};
      if (addresses_.empty()) {
        step.detail = proxy_.host + ": " + error;
      } else {
        step.detail = proxy_.host + " ->";
        for (const auto& a : addresses_) {
          step.detail += " " + a.text;
        }
      }
      run_.steps.push_back(step);
      if (addresses_.empty()) {
        return false;
      }
    }
    std::string errors;
    for (const auto& address : addresses_) {
      auto start = Clock::now();
      std::string error;
      if (connection_.connect(address, options_.timeout, error)) {
        run_.steps.push_back(
            Step{reconnect ? "reconnect" : "connect", true, address.text, msSince(start)});
        if (proxy_.scheme == "https") {
          return startTls();
        }
        return true;
      }
      run_.steps.push_back(Step{reconnect ? "reconnect" : "connect", false,
                                address.text + ": " + error, msSince(start)});
    }
    return false;
  }
  Connection& connection() { return connection_; }

private:
  bool startTls() {
    auto start = Clock::now();
    TlsInfo info;
    bool ok = connection_.startTls(proxy_.host, options_.proxyCaFile, options_.insecure,
                                   options_.timeout, info);
    std::string detail;
    if (!info.version.empty()) {
      detail = info.version + " " + info.cipher + ", ALPN " +
               (info.alpn.empty() ? std::string("none") : info.alpn) + "; certificate " +
               info.subject + " issued by " + info.issuer + ", valid until " + info.notAfter +
               "; verification " + info.verifyResult +
               (info.verifySkipped && info.verifyResult != "ok" ? " (ignored: --insecure)" : "");
    }
    if (!ok) {
      detail = info.error + (detail.empty() ? "" : "; " + detail);
    }
    run_.steps.push_back(Step{"tls", ok, detail, msSince(start)});
    if (!ok) {
      connection_.close();
    }
    return ok;
  }

  const ProxyUrl& proxy_;
  const Options& options_;
  MethodRun& run_;
  std::vector<ResolvedAddress> addresses_;
  Connection connection_;
};

std::string buildRequest(const std::string& method, const std::string& target,
                         const std::string& hostHeader, const std::string& authorization) {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + hostHeader +
                        "\r\nUser-Agent: gatehouse-probe/0.1\r\n";
  if (method != "CONNECT") {
    request += "Accept: */*\r\n";
  }
  request += "Proxy-Connection: Keep-Alive\r\n";
  if (!authorization.empty()) {
    request += "Proxy-Authorization: " + authorization + "\r\n";
  }
  request += "\r\n";
  return request;
}

// Runs one exchange; returns false when nothing could be sent or no head came back.
bool exchange(ProxySession& session, Exchange& ex, const std::string& wire,
              const Options& options) {
  auto start = Clock::now();
  std::string error;
  if (!session.connection().sendAll(wire, error)) {
    ex.error = "sending the request failed: " + error;
    ex.elapsedMs = msSince(start);
    return false;
  }
  ResponseRecord record;
  bool ok = readResponse(session.connection(), ex.method, options.timeout, record, error);
  ex.elapsedMs = msSince(start);
  if (!ok) {
    ex.error = error;
    return false;
  }
  ex.response = std::move(record);
  return true;
}

// The challenge the probe answers: Basic when offered or when there is no challenge at all
// (what curl -U does), else a Digest it can compute; nullptr (with `why`) for the rest.
const Challenge* chooseChallenge(const ResponseRecord& r, bool& basic, std::string& why) {
  basic = false;
  if (r.proxyChallenges.challenges.empty()) {
    basic = true;
    return nullptr;
  }
  for (const auto& c : r.proxyChallenges.challenges) {
    if (c.is("Basic")) {
      basic = true;
      return nullptr;
    }
  }
  for (const auto& c : r.proxyChallenges.challenges) {
    if (c.is("Digest")) {
      DigestAnswer probe = answerDigest(c, "GET", "/", "", "", std::string("x"));
      if (probe.error.empty()) {
        return &c;
      }
      why = probe.error;
    }
  }
  return nullptr;
}

// GET or CONNECT against one target: without credentials, then with them when refused.
void runMethod(const std::string& method, const http::AbsoluteUri& uri, const std::string& url,
               const ProxyUrl& proxy, const Credentials& credentials, const Options& options,
               MethodRun& run) {
  run.method = method;
  ProxySession session(proxy, options, run);
  if (!session.open(false)) {
    return;
  }
  std::string target = method == "CONNECT" ? uri.authority.hostPort() : url;
  std::string host = method == "CONNECT" ? uri.authority.hostPort() : uri.hostHeader();
  Exchange first{method, target, false, false, "", std::nullopt, "", 0, ""};
  first.requestText = buildRequest(method, target, host, "");
  bool answered = exchange(session, first, first.requestText, options);
  run.exchanges.push_back(first);
  if (!answered || !credentials.present) {
    return;
  }
  // Credentials only after a refusal; Basic only where the proxy offered Basic or no challenge
  // at all (never a password in clear to a proxy that asked for NTLM), else Digest.
  const ResponseRecord& r = *run.exchanges.back().response;
  bool refused = r.notHttp ? false : (r.status == 407 || r.status == 401 || r.status == 403);
  bool basic = false;
  std::string why;
  const Challenge* digest = refused ? chooseChallenge(r, basic, why) : nullptr;
  if (!refused || (!basic && digest == nullptr)) {
    return;
  }
  std::string authorization;
  std::string masked;
  std::string token;
  if (basic) {
    token = encodeBase64(credentials.user + ":" + credentials.password.reveal());
    authorization = "Basic " + token;
    // What the report shows instead of the token: the user and the password's length only.
    masked = "Basic <" + credentials.user + ":" +
             std::to_string(credentials.password.reveal().size()) +
             "-byte password, base64, masked>";
  } else {
    DigestAnswer answer =
        answerDigest(*digest, method, target, credentials.user, credentials.password.reveal());
    authorization = answer.header;
    masked = answer.masked;
  }
  Exchange second{method, target, true, false, "", std::nullopt, "", 0, basic ? "Basic" : "Digest"};
  second.requestText = buildRequest(method, target, host, masked);
  std::string wire = buildRequest(method, target, host, authorization);
  const char* kNoReconnect = "could not reconnect to send the credentials (see the steps)";
  if (r.closeAfter || session.connection().peerClosed()) {
    second.newConnection = true;
    if (session.open(true)) {
      exchange(session, second, wire, options);
    } else {
      second.error = kNoReconnect;
    }
  } else if (!exchange(session, second, wire, options)) {
    // The proxy closed the kept connection without saying so: record it, retry on a new one
    // (what clients do for an idempotent request on a reused connection).
    run.exchanges.push_back(second);
    second = Exchange{method,       target, true, true,         second.requestText,
                      std::nullopt, "",     0,    second.scheme};
    if (session.open(true)) {
      exchange(session, second, wire, options);
    } else {
      second.error = kNoReconnect;
    }
  }
  run.exchanges.push_back(second);
  OPENSSL_cleanse(wire.data(), wire.size());
  OPENSSL_cleanse(token.data(), token.size());
  OPENSSL_cleanse(authorization.data(), authorization.size());
}

std::string readPassword(const std::string& user) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) {
    return "";
  }
  std::fprintf(tty, "Proxy password for %s: ", user.c_str());
  std::fflush(tty);
  termios old{};
  int fd = fileno(tty);
  tcgetattr(fd, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(fd, TCSAFLUSH, &quiet);
  char buf[1024];
  std::string password;
  if (std::fgets(buf, sizeof buf, tty) != nullptr) {
    password = buf;
    OPENSSL_cleanse(buf, sizeof buf);
    if (!password.empty() && password.back() == '\n') {
      password.pop_back();
    }
  }
  tcsetattr(fd, TCSAFLUSH, &old);
  std::fprintf(tty, "\n");
  std::fclose(tty);
  return password;
}

} // namespace

int runProbe(const Options& options) {
  Report report;
  Credentials credentials;
  if (!options.proxyUser.empty()) {
    size_t colon = options.proxyUser.find(':');
    credentials.present = true;
    credentials.source = "--proxy-user";
    credentials.user = options.proxyUser.substr(0, colon);
    if (colon != std::string::npos) {
      credentials.password = Secret(options.proxyUser.substr(colon + 1));
    } else if (isatty(STDIN_FILENO)) {
      credentials.password = Secret(readPassword(credentials.user));
    } else {
      std::fprintf(stderr,
                   "gatehouse probe: --proxy-user %s has no password and there is no "
                   "terminal to ask for it; give USER:PASS\n",
                   credentials.user.c_str());
      return kExitUsage;
    }
  }
  bool firstTarget = true;
  for (const std::string& url : options.targets) {
    TargetReport target;
    target.url = url;
    std::string error;
    auto uri = http::parseAbsoluteUri(url, error);
    if (!uri) {
      std::fprintf(stderr, "gatehouse probe: %s: not an http:// or https:// URL (%s)\n",
                   url.c_str(), error.c_str());
      return kExitUsage;
    }
    target.scheme = uri->scheme;
    target.host = uri->authority.host;
    target.port = uri->authority.port;
    // Which proxy: --proxy, then --pac, then curl's environment rules.
    if (!options.proxy.empty()) {
      target.choice.proxy = options.proxy;
      target.choice.decidedBy = "--proxy";
    } else if (!options.pac.empty()) {
      std::string script;
      if (!loadPacScript(options.pac, options.timeout, script, error)) {
        std::fprintf(stderr, "gatehouse probe: --pac %s: %s\n", options.pac.c_str(), error.c_str());
        return kExitOther;
      }
      PacEvaluation pac = evaluatePac(script, url, uri->authority.host);
      if (!pac.ok) {
        std::fprintf(stderr, "gatehouse probe: --pac %s: %s\n", options.pac.c_str(),
                     pac.error.c_str());
        return kExitOther;
      }
      target.pacDetails.push_back("FindProxyForURL(\"" + url + "\", \"" + uri->authority.host +
                                  "\") = \"" + pac.result + "\"");
      for (const auto& p : pac.problems) {
        target.pacDetails.push_back("problem: " + p);
      }
      target.choice.decidedBy = "PAC";
      target.choice.direct = true;
      for (const PacEntry& entry : pac.entries) {
        if (entry.kind == "DIRECT") {
          target.choice.explanation = "the first usable PAC entry is DIRECT";
          break;
        }
        if (entry.kind == "PROXY" || entry.kind == "HTTPS") {
          target.choice.direct = false;
          target.choice.proxy = (entry.kind == "HTTPS" ? "https://" : "http://") + entry.hostPort;
          target.choice.explanation =
              "the first usable PAC entry is \"" + entry.kind + " " + entry.hostPort + "\"";
          break;
        }
        target.pacDetails.push_back("skipped \"" + entry.kind + " " + entry.hostPort +
                                    "\": the probe speaks HTTP to proxies, not SOCKS");
      }
      if (target.choice.explanation.empty()) {
        target.choice.explanation = "no usable PAC entry: clients go direct or fail";
      }
    } else {
      target.choice =
          chooseProxyFromEnvironment(uri->scheme, uri->authority.host, processEnvironment());
    }
    std::optional<ProxyUrl> proxy;
    if (!target.choice.direct) {
      proxy = parseProxyUrl(target.choice.proxy, error);
      if (!proxy) {
        std::fprintf(stderr, "gatehouse probe: proxy from %s: %s\n",
                     target.choice.decidedBy.c_str(), error.c_str());
        return kExitUsage;
      }
      if (proxy->scheme != "http" && proxy->scheme != "https") {
        std::fprintf(stderr,
                     "gatehouse probe: %s is a SOCKS proxy; the probe speaks HTTP to "
                     "proxies only\n",
                     proxy->display().c_str());
        return kExitUsage;
      }
      target.proxyDisplay = proxy->display();
      target.proxyUrlNotes = proxy->notes;
      if (target.choice.explanation.empty()) {
        target.choice.explanation = "--proxy " + proxy->display() +
                                    (proxy->hasUserInfo ? " (with credentials in the URL)" : "");
      }
      if (!credentials.present && proxy->hasUserInfo) {
        credentials.present = true;
        credentials.source = "proxy URL (" + target.choice.decidedBy + ")";
        credentials.user = proxy->user;
        credentials.password = proxy->password;
      }
    }
    if (firstTarget && credentials.present) {
      report.credentialsSource = credentials.source;
      report.user = credentials.user;
      report.credentialChecks = checkCredentials(credentials.user, credentials.password.reveal());
    }
    firstTarget = false;
    if (proxy) {
      if (uri->scheme == "http") {
        target.runs.emplace_back();
        runMethod("GET", *uri, url, *proxy, credentials, options, target.runs.back());
      }
      if (uri->scheme == "https" || options.connectCheck) {
        target.runs.emplace_back();
        runMethod("CONNECT", *uri, url, *proxy, credentials, options, target.runs.back());
      }
    }
    analyse(target, credentials.present);
    report.targets.push_back(std::move(target));
  }
  for (const auto& t : report.targets) {
    if (t.exitCode != kExitOk) {
      report.exitCode = t.exitCode;
      break;
    }
  }
  bool color =
      options.color == "always" || (options.color == "auto" && !options.json &&
                                    isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr);
  std::string out = options.json ? renderJson(report) : renderText(report, color);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return report.exitCode;
}

} // namespace gatehouse::probe
