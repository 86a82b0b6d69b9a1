#pragma once
// `gatehouse probe`: replays what clients do against a proxy (absolute-form GET, CONNECT,
// first without then with credentials) step by step, and explains the answers. This header
// holds the options, the record of what happened and the verdict; the runner fills the
// record, analyse() derives verdicts and advice, and the renderers print text or JSON.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/http/message.h"
#include "gatehouse/probe/challenge.h"
#include "gatehouse/probe/connection.h"
#include "gatehouse/probe/proxy_selection.h"

namespace gatehouse::probe {

// Command-line options.
struct Options {
  std::string proxy;     // --proxy (may carry credentials)
  std::string proxyUser; // --proxy-user USER[:PASS]
  std::string proxyCaFile;
  bool insecure = false;
  std::string pac; // --pac URL|FILE
  bool json = false;
  bool connectCheck = false; // also CONNECT for http:// targets
  std::chrono::milliseconds timeout{10'000};
  std::vector<std::string> targets;
  std::string color = "auto"; // auto, always, never
};

// One step of the flow (resolve, connect, TLS) and how it went.
struct Step {
  std::string name; // "resolve", "connect", "tls"
  bool ok = false;
  std::string detail;
  long elapsedMs = 0;
};

// A response head as received, plus what was noticed while reading it.
struct ResponseRecord {
  int status = 0;
  std::string reason;
  std::string version; // "HTTP/1.1"
  http::HeaderList headers;
  std::vector<int> interim; // 1xx statuses skipped
  size_t bodyBytes = 0;
  std::string bodyExcerpt; // first bytes of the body, printable
  bool closeAfter = false; // Connection: close, no framing, or the peer closed
  std::string closeReason;
  std::string strictError;       // what the strict parser refused, empty when fine
  bool notHttp = false;          // the bytes were not an HTTP response
  std::string rawExcerpt;        // first bytes, escaped, when notHttp
  ChallengeList proxyChallenges; // every Proxy-Authenticate
  ChallengeList wwwChallenges;   // every WWW-Authenticate
};

// One request/response on a connection.
struct Exchange {
  std::string method; // "GET" or "CONNECT"
  std::string target;
  bool withCredentials = false;
  bool newConnection = false; // opened for this exchange (after a close)
  std::string requestText;    // as sent, Proxy-Authorization masked
  std::optional<ResponseRecord> response;
  std::string error; // no response: why
  long elapsedMs = 0;
  std::string scheme; // of the credentials sent ("Basic", "Digest"), empty without
};

// All exchanges of one method against one target.
struct MethodRun {
  std::string method; // "GET" or "CONNECT"
  std::vector<Step> steps;
  std::vector<Exchange> exchanges;
  // Derived by analyse():
  std::string outcome; // verdict code for this method
  std::string summary;
};

// A finding in the analysis: a protocol violation, a warning or a note.
struct Finding {
  std::string severity; // "violation", "warning", "note"
  std::string text;
};

// Per-client advice.
struct Advice {
  std::string client; // "curl", "python-requests", "node", "java", "chromium"
  std::string behaviour;
  std::string fix;
};

// Everything about one target URL.
struct TargetReport {
  std::string url;
  std::string scheme, host;
  uint16_t port = 0;
  std::string proxyDisplay; // the proxy without credentials, empty when direct
  ProxyChoice choice;       // how it was chosen
  std::vector<std::string> pacDetails;
  std::vector<std::string> proxyUrlNotes;
  std::vector<MethodRun> runs;
  // analysis
  std::string verdict; // code, see verdicts in probe.cc
  std::string headline;
  int exitCode = 0;
  std::vector<std::string> evidence;
  std::vector<Finding> findings;
  std::vector<Advice> advice;
  std::vector<std::string> answeredBy;
};

// The whole run.
struct Report {
  std::string credentialsSource; // "--proxy-user", "proxy URL", "" (none)
  std::string user;              // shown: the user name is not the secret
  std::vector<std::string> credentialChecks;
  std::vector<TargetReport> targets;
  int exitCode = 0;
};

// Exit codes per verdict class (documented in --help and docs/probe.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitCredentialsNeeded = 3,
  kExitWrongCredentials = 4,
  kExitPolicyDenied = 5,
  kExitAuthBroken = 6,
  kExitThrottled = 7,
  kExitUpstreamFailure = 8,
  kExitProxyUnreachable = 9,
  kExitOther = 10,
};
const char* exitCodeHelp();

// Runs the probe; prints the report; returns the exit code.
int runProbe(const Options& options);

// The parts, exposed for tests.
void analyse(TargetReport& target, bool haveCredentials);
std::string renderText(const Report& report, bool color);
std::string renderJson(const Report& report);
// Proxy-Status (RFC 9209) members: name and parameters, in field order.
struct ProxyStatusMember {
  std::string name;
  std::vector<std::pair<std::string, std::string>> params;
  std::string param(const std::string& key) const;
};
std::vector<ProxyStatusMember> parseProxyStatus(std::string_view field);
// One line on a Proxy-Status error type or a Squid error page name.
std::string explainProxyStatusError(std::string_view type);
std::string explainSquidError(std::string_view value);

} // namespace gatehouse::probe
