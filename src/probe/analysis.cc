// From what the proxy answered to a verdict, evidence, protocol findings and per-client
// advice. The vocabulary follows Chromium's HttpAuthController (accept, reject, unsupported
// scheme) and curl's proxy tunnel states; the RFC sections are cited where a rule is broken.

#include <algorithm>
#include <cstdio>
#include <set>

#include "gatehouse/probe/probe.h"

namespace gatehouse::probe {

using http::equalsIgnoreCase;

namespace {

// Verdict codes and their one-line meaning and exit code.
struct VerdictInfo {
  const char* code;
  int exitCode;
  int rank; // higher wins when methods disagree
};

constexpr VerdictInfo kVerdicts[] = {
    {"credentials_accepted", kExitOk, 0},
    {"no_auth_required", kExitOk, 0},
    {"direct", kExitOk, 0},
    {"credentials_required", kExitCredentialsNeeded, 4},
    {"wrong_credentials", kExitWrongCredentials, 6},
    {"wrong_credentials_401", kExitWrongCredentials, 7},
    {"policy_denied", kExitPolicyDenied, 5},
    {"no_challenge", kExitAuthBroken, 8},
    {"proxy_sent_401", kExitAuthBroken, 8},
    {"auth_unsupported", kExitAuthBroken, 8},
    {"closes_after_407", kExitAuthBroken, 8},
    {"throttled", kExitThrottled, 3},
    {"upstream_failure", kExitUpstreamFailure, 2},
    {"plain_http_on_tls_port", kExitProxyUnreachable, 9},
    {"tls_port_spoken_plain", kExitProxyUnreachable, 9},
    {"not_http", kExitProxyUnreachable, 9},
    {"no_response", kExitProxyUnreachable, 9},
    {"proxy_unreachable", kExitProxyUnreachable, 10},
    {"refused", kExitOther, 1},
};

const VerdictInfo& info(const std::string& code) {
  for (const auto& v : kVerdicts) {
    if (code == v.code) {
      return v;
    }
  }
  return kVerdicts[std::size(kVerdicts) - 1];
}

std::string schemesOf(const ChallengeList& list) {
  std::string out;
  for (const auto& c : list.challenges) {
    out += (out.empty() ? "" : ", ") + c.scheme;
  }
  return out.empty() ? "none" : out;
}

std::string realmOf(const ChallengeList& list) {
  for (const auto& c : list.challenges) {
    if (const AuthParam* realm = c.param("realm")) {
      return realm->value;
    }
  }
  return "";
}

bool offers(const ChallengeList& list, std::string_view scheme) {
  return std::any_of(list.challenges.begin(), list.challenges.end(),
                     [&](const Challenge& c) { return c.is(scheme); });
}

bool onlyConnectionBound(const ChallengeList& list) {
  return !list.challenges.empty() &&
         std::all_of(list.challenges.begin(), list.challenges.end(),
                     [](const Challenge& c) { return isConnectionBound(c); });
}

std::string statusLine(const ResponseRecord& r) {
  return r.version + " " + std::to_string(r.status) + (r.reason.empty() ? "" : " " + r.reason);
}

// A Proxy-Status error type or X-Squid-Error that says "denied by policy".
bool saysDenied(const ResponseRecord& r) {
  if (auto ps = r.headers.get("Proxy-Status")) {
    for (const auto& m : parseProxyStatus(*ps)) {
      std::string error = m.param("error");
      if (error == "http_request_denied" || error == "destination_ip_prohibited") {
        return true;
      }
    }
  }
  if (auto squid = r.headers.get("X-Squid-Error")) {
    return squid->rfind("ERR_ACCESS_DENIED", 0) == 0;
  }
  return false;
}

// Explains a response in one sentence for the step-by-step output.
std::string meaning(const Exchange& ex) {
  if (!ex.response) {
    return ex.error;
  }
  const ResponseRecord& r = *ex.response;
  if (r.notHttp) {
    return "not an HTTP response";
  }
  int s = r.status;
  std::string m;
  if (s >= 200 && s < 300) {
    m = ex.method == "CONNECT" ? "tunnel established: the proxy let the CONNECT through"
                               : "the proxy forwarded the request and relayed the answer";
  } else if (s == 407) {
    m = "proxy authentication required; offered: " + schemesOf(r.proxyChallenges);
    if (ex.withCredentials) {
      m += "; the credentials sent were not accepted (or the request is denied as 407)";
    }
  } else if (s == 401) {
    m = ex.method == "CONNECT" || ex.withCredentials
            ? "401 from the proxy: an origin's status; clients will not retry proxy credentials"
            : "401: the origin (or the proxy, wrongly) wants credentials";
  } else if (s == 403) {
    m = "forbidden: denied by policy; credentials do not change that";
  } else if (s == 429) {
    auto retry = r.headers.get("Retry-After");
    m = "throttled" +
        (retry ? ", Retry-After " + std::string(*retry) : std::string(", no Retry-After"));
  } else if (s == 497) {
    m = "plain HTTP reached a TLS port (nginx/Gatehouse 497): use https:// for the proxy";
  } else if (s >= 500) {
    m = "failure behind the proxy or in it";
  } else {
    m = std::string(http::reasonPhrase(s));
  }
  if (auto ps = r.headers.get("Proxy-Status")) {
    for (const auto& member : parseProxyStatus(*ps)) {
      std::string error = member.param("error");
      if (!error.empty()) {
        m += "; Proxy-Status from " + member.name + ": " + error + " (" +
             explainProxyStatusError(error) + ")";
        std::string details = member.param("details");
        if (!details.empty()) {
          m += ", details \"" + details + "\"";
        }
      }
    }
  }
  if (auto squid = r.headers.get("X-Squid-Error")) {
    m += "; X-Squid-Error " + std::string(*squid) + " (" + explainSquidError(*squid) + ")";
  }
  return m;
}

// Decides the outcome of one method run (GET or CONNECT).
void decideRun(MethodRun& run, bool haveCredentials, bool& sawClose407) {
  if (run.exchanges.empty()) {
    run.outcome = "proxy_unreachable";
    for (const auto& step : run.steps) {
      if (!step.ok) {
        run.summary = step.name + " failed: " + step.detail;
        if (step.name == "tls" && step.detail.find("TLS handshake") != std::string::npos) {
          run.summary += " (a plain-HTTP port does not answer a ClientHello)";
        }
      }
    }
    return;
  }
  const Exchange& first = run.exchanges.front();
  const Exchange& last = run.exchanges.back();
  // The credentialed attempt decides; when it got no answer at all, that is the outcome
  // (a retry on a new connection that was not answered either, say).
  if (!last.response) {
    run.outcome = "no_response";
    run.summary = run.method + ": " + last.error;
    if (&last != &first && first.response) {
      run.summary = run.method + ": " + statusLine(*first.response) +
                    " without credentials, then no answer with them: " + last.error;
    }
    return;
  }
  const Exchange& answered = last;
  const ResponseRecord& r = *answered.response;
  const ResponseRecord* firstResponse = first.response ? &*first.response : nullptr;
  if (firstResponse != nullptr && firstResponse->status == 407 &&
      (firstResponse->closeAfter || (run.exchanges.size() > 1 && run.exchanges[1].newConnection))) {
    sawClose407 = true;
  }
  if (r.notHttp) {
    bool looksTls =
        r.rawExcerpt.rfind("\\x15\\x03", 0) == 0 || r.rawExcerpt.rfind("\\x16\\x03", 0) == 0;
    run.outcome = looksTls ? "tls_port_spoken_plain" : "not_http";
    run.summary = looksTls ? run.method + ": the proxy port answered with TLS bytes: it expects "
                                          "TLS, use https:// for the proxy"
                           : run.method + ": the answer is not HTTP: \"" + r.rawExcerpt + "\"";
    return;
  }
  int s = r.status;
  std::string line = run.method + ": " + statusLine(r);
  if (s == 497) {
    run.outcome = "plain_http_on_tls_port";
    run.summary = line + ": plain HTTP was sent to a TLS port; use https:// for the proxy";
    return;
  }
  if (s == 407 && r.proxyChallenges.challenges.empty()) {
    run.outcome = "no_challenge";
    run.summary = line + " without Proxy-Authenticate: clients that wait for a challenge "
                         "(browsers, Java, curl --proxy-anyauth) cannot answer it; RFC 9110 "
                         "15.5.8 requires one";
    if (answered.withCredentials && firstResponse && firstResponse->status == 407) {
      run.summary += "; Basic credentials were sent anyway (as curl -U does) and refused";
    }
    return;
  }
  if (s == 407 && !answered.withCredentials) {
    if (haveCredentials) {
      if (onlyConnectionBound(r.proxyChallenges) && r.closeAfter) {
        run.outcome = "closes_after_407";
        run.summary = line + " offering " + schemesOf(r.proxyChallenges) +
                      " and closing the connection: connection-bound schemes cannot complete";
      } else {
        run.outcome = "auth_unsupported";
        run.summary = line + " offering only " + schemesOf(r.proxyChallenges) +
                      ": the probe answers Basic and Digest only, so the credentials were not "
                      "tried";
      }
    } else {
      run.outcome = "credentials_required";
      run.summary =
          line + ": credentials needed (" + schemesOf(r.proxyChallenges) +
          (realmOf(r.proxyChallenges).empty() ? ""
                                              : ", realm \"" + realmOf(r.proxyChallenges) + "\"") +
          "), none given";
    }
    return;
  }
  if (s == 407) {
    if (saysDenied(r)) {
      run.outcome = "policy_denied";
      run.summary = line + " after credentials, and Proxy-Status says the request is denied: "
                           "a policy answered as 407";
    } else {
      // Chromium's HttpAuthController reads a second 407 as REJECT (ask again), STALE (Digest
      // nonce expired: retry silently) or DIFFERENT_REALM (ask for the new realm).
      run.outcome = "wrong_credentials";
      run.summary = line + " again after " + answered.scheme +
                    " credentials: rejected (wrong user or password, or a denial sent as 407)";
      std::string verdict = "REJECT: the browser asks for the password again";
      for (const auto& c : r.proxyChallenges.challenges) {
        const AuthParam* stale = c.param("stale");
        if (c.is("Digest") && stale != nullptr && equalsIgnoreCase(stale->value, "true")) {
          run.summary += "; stale=true: the nonce expired, the password itself may be right "
                         "(clients retry with the new nonce)";
          verdict = "STALE: the browser retries with the new nonce without asking";
        }
      }
      std::string before = firstResponse ? realmOf(firstResponse->proxyChallenges) : "";
      std::string after = realmOf(r.proxyChallenges);
      if (firstResponse && firstResponse->status == 407 && before != after) {
        run.summary += "; the realm changed from \"" + before + "\" to \"" + after +
                       "\" (a different user database or proxy answered)";
        verdict = "DIFFERENT_REALM: the browser asks for credentials for the new realm";
      }
      run.summary += " [Chromium: " + verdict + "]";
    }
    return;
  }
  if (s == 401) {
    bool fromProxy = run.method == "CONNECT" || answered.withCredentials;
    if (answered.withCredentials && firstResponse && firstResponse->status == 407) {
      run.outcome = "wrong_credentials_401";
      run.summary = line + " after " + answered.scheme +
                    " credentials (the first answer was 407): the proxy "
                    "rejects the credentials with 401 instead of 407; clients treat it "
                    "as the origin's answer and never ask again";
    } else if (fromProxy) {
      run.outcome = "proxy_sent_401";
      run.summary = line + " from the proxy instead of 407: clients will not send proxy "
                           "credentials for it";
    } else {
      run.outcome = "no_auth_required";
      run.summary = line + " from the origin (the proxy passed the request)";
    }
    return;
  }
  if (s == 429) {
    run.outcome = "throttled";
    auto retry = r.headers.get("Retry-After");
    run.summary = line + ": the proxy throttles this client" +
                  (retry ? " (Retry-After " + std::string(*retry) + ")" : " (no Retry-After)");
    return;
  }
  if (s == 403 || saysDenied(r)) {
    run.outcome = "policy_denied";
    run.summary = line + (answered.withCredentials ? " with credentials" : "") +
                  ": denied by policy; " + meaning(answered);
    return;
  }
  bool proxyError = r.headers.has("Proxy-Status") || r.headers.has("X-Squid-Error");
  if (s == 502 || s == 503 || s == 504 || s == 598 || s == 599 || (s >= 500 && proxyError)) {
    run.outcome = "upstream_failure";
    run.summary = line + ": " + meaning(answered);
    return;
  }
  if (s >= 200 && s < 400) {
    run.outcome = answered.withCredentials ? "credentials_accepted" : "no_auth_required";
    run.summary = line +
                  (answered.withCredentials ? " with " + answered.scheme + " credentials" : "") +
                  (run.method == "CONNECT" ? ": tunnel established" : ": request passed");
    return;
  }
  if (s >= 400 && s < 500 && run.method == "GET" && r.headers.has("Via") && !proxyError) {
    // The origin's own 4xx, relayed.
    run.outcome = answered.withCredentials ? "credentials_accepted" : "no_auth_required";
    run.summary =
        line + " relayed from the origin (Via: " + std::string(*r.headers.get("Via")) + ")";
    return;
  }
  run.outcome = "refused";
  run.summary = line + ": " + meaning(answered);
}

std::string headlineFor(const std::string& verdict, const TargetReport& t) {
  if (verdict == "credentials_accepted") {
    return "Credentials accepted.";
  }
  if (verdict == "no_auth_required") {
    return "No proxy authentication required: the proxy let the requests through.";
  }
  if (verdict == "direct") {
    return "No proxy for this URL: clients connect directly (" + t.choice.decidedBy + ").";
  }
  if (verdict == "credentials_required") {
    return "The proxy requires credentials and none were given (use --proxy-user).";
  }
  if (verdict == "wrong_credentials") {
    return "Wrong credentials: the proxy answered 407 again after the credentials.";
  }
  if (verdict == "wrong_credentials_401") {
    return "Wrong credentials, rejected with 401 instead of 407 (a protocol violation, typical "
           "of tinyproxy): clients will not retry.";
  }
  if (verdict == "policy_denied") {
    return "Denied by policy: no credentials can fix this.";
  }
  if (verdict == "no_challenge") {
    return "407 without Proxy-Authenticate: no client can authenticate to this proxy.";
  }
  if (verdict == "proxy_sent_401") {
    return "The proxy answers 401 instead of 407: clients will not send proxy credentials.";
  }
  if (verdict == "auth_unsupported") {
    return "The proxy offers only schemes the probe cannot try (NTLM/Negotiate/Digest).";
  }
  if (verdict == "closes_after_407") {
    return "The proxy closes the connection after its 407: NTLM/Negotiate cannot complete.";
  }
  if (verdict == "throttled") {
    return "The proxy throttles this client (429).";
  }
  if (verdict == "upstream_failure") {
    return "The proxy accepted the request but failed to reach the destination.";
  }
  if (verdict == "plain_http_on_tls_port") {
    return "Plain HTTP was sent to the proxy's TLS port (497): use an https:// proxy URL.";
  }
  if (verdict == "tls_port_spoken_plain") {
    return "The proxy port speaks TLS: use an https:// proxy URL.";
  }
  if (verdict == "not_http") {
    return "The proxy port does not answer HTTP.";
  }
  if (verdict == "no_response") {
    return "The proxy accepted the connection but gave no answer.";
  }
  if (verdict == "proxy_unreachable") {
    return "Cannot reach the proxy.";
  }
  return "The proxy refused the request.";
}

void addFinding(TargetReport& t, const std::string& severity, const std::string& text) {
  for (const auto& f : t.findings) {
    if (f.text == text) {
      return;
    }
  }
  t.findings.push_back(Finding{severity, text});
}

void collectFindings(TargetReport& t, const MethodRun& run) {
  for (const Exchange& ex : run.exchanges) {
    if (!ex.response || ex.response->notHttp) {
      continue;
    }
    const ResponseRecord& r = *ex.response;
    std::string where = ex.method + " " + std::to_string(r.status) + ": ";
    if (!r.strictError.empty()) {
      addFinding(t, "violation",
                 where + "the head is not valid HTTP/1.1 (" + r.strictError +
                     "); strict clients and proxies refuse it");
    }
    for (const auto& p : r.proxyChallenges.problems) {
      addFinding(t, "violation", where + "Proxy-Authenticate: " + p);
    }
    for (const auto& c : r.proxyChallenges.challenges) {
      for (const auto& v : challengeViolations(c)) {
        addFinding(t, "violation", where + v);
      }
    }
    if (r.status == 407) {
      if (r.proxyChallenges.challenges.empty()) {
        addFinding(t, "violation",
                   where + "407 without Proxy-Authenticate (RFC 9110 15.5.8: "
                           "the proxy MUST send a challenge)");
      }
      if (r.headers.has("WWW-Authenticate")) {
        addFinding(t, "violation",
                   where + "WWW-Authenticate on a 407 (that field belongs to "
                           "401; clients ignore it or prompt for the origin)");
      }
      if (r.closeAfter) {
        addFinding(t, onlyConnectionBound(r.proxyChallenges) ? "violation" : "warning",
                   where + "the proxy closes the connection after its 407 (" + r.closeReason +
                       "): clients must reconnect to send credentials" +
                       (offers(r.proxyChallenges, "NTLM") || offers(r.proxyChallenges, "Negotiate")
                            ? "; NTLM/Negotiate handshakes are bound to one connection and fail"
                            : ""));
      }
    } else if (r.headers.has("Proxy-Authenticate")) {
      addFinding(t, "warning",
                 where + "Proxy-Authenticate on a " + std::to_string(r.status) +
                     " (only meaningful on 407)");
    }
    if (r.status == 401 && (ex.method == "CONNECT" || ex.withCredentials)) {
      addFinding(t, "violation",
                 where + "a proxy answered 401 (the origin's status) instead of "
                         "407; RFC 9110 11.7.1: proxies challenge with 407");
    }
    if (r.status == 429 && !r.headers.has("Retry-After")) {
      addFinding(t, "warning",
                 where + "429 without Retry-After: clients cannot tell when to "
                         "retry");
    }
    if (ex.method == "CONNECT" && r.status >= 200 && r.status < 300 &&
        (r.headers.has("Content-Length") || r.headers.has("Transfer-Encoding"))) {
      addFinding(t, "note",
                 where + "a 2xx to CONNECT carries Content-Length/Transfer-Encoding; "
                         "RFC 9110 9.3.6: clients must ignore them");
    }
    for (const auto& c : r.proxyChallenges.challenges) {
      if (c.is("Basic") && t.proxyDisplay.rfind("http://", 0) == 0) {
        addFinding(t, "note",
                   "Basic over a plain-HTTP proxy: the password crosses the network "
                   "in base64 (readable); Chromium refuses it when the policy "
                   "BasicAuthOverHttpEnabled is false");
      }
    }
  }
  // 407 then silent close on the kept connection.
  for (size_t i = 1; i < run.exchanges.size(); ++i) {
    const Exchange& ex = run.exchanges[i];
    if (!ex.newConnection && !ex.response && ex.withCredentials) {
      addFinding(t, "warning",
                 run.method + ": the proxy closed the connection after its 407 "
                              "without Connection: close; the request with "
                              "credentials had to go on a new connection");
    }
  }
}

void collectAnsweredBy(TargetReport& t) {
  std::set<std::string> seen;
  for (const auto& run : t.runs) {
    for (const auto& ex : run.exchanges) {
      if (!ex.response || ex.response->notHttp) {
        continue;
      }
      // Each fact once, tagged with the first answer that carried it.
      std::string on = " [" + ex.method + " " + std::to_string(ex.response->status) + "]";
      auto add = [&](const std::string& fact) {
        if (seen.insert(fact).second) {
          t.answeredBy.push_back(fact + on);
        }
      };
      const auto& h = ex.response->headers;
      for (const auto& f : h.fields()) {
        if (equalsIgnoreCase(f.name, "Via")) {
          add("Via: " + f.value + " (hops the response passed, nearest last)");
        } else if (equalsIgnoreCase(f.name, "Server")) {
          add("Server: " + f.value);
        } else if (equalsIgnoreCase(f.name, "Proxy-Status")) {
          for (const auto& m : parseProxyStatus(f.value)) {
            std::string e = m.param("error");
            add("Proxy-Status member " + m.name + (e.empty() ? "" : " (error " + e + ")"));
          }
        } else if (equalsIgnoreCase(f.name, "X-Squid-Error")) {
          add("X-Squid-Error: " + f.value + " (a Squid generated this answer)");
        } else if (equalsIgnoreCase(f.name, "X-Cache")) {
          add("X-Cache: " + f.value);
        }
      }
    }
  }
}

bool anyResponse(const TargetReport& t, int status) {
  for (const auto& run : t.runs) {
    for (const auto& ex : run.exchanges) {
      if (ex.response && !ex.response->notHttp && ex.response->status == status) {
        return true;
      }
    }
  }
  return false;
}

ChallengeList allChallenges(const TargetReport& t) {
  ChallengeList all;
  std::set<std::string> seen;
  for (const auto& run : t.runs) {
    for (const auto& ex : run.exchanges) {
      if (!ex.response) {
        continue;
      }
      for (const auto& c : ex.response->proxyChallenges.challenges) {
        std::string key = c.scheme;
        for (char& ch : key) {
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        if (seen.insert(key).second) {
          all.challenges.push_back(c);
        }
      }
    }
  }
  return all;
}

void buildAdvice(TargetReport& t) {
  ChallengeList offered = allChallenges(t);
  bool basic = offers(offered, "Basic");
  bool digest = offers(offered, "Digest");
  bool ntlm = offers(offered, "NTLM");
  bool negotiate = offers(offered, "Negotiate");
  bool tunnel = std::any_of(t.runs.begin(), t.runs.end(),
                            [](const MethodRun& r) { return r.method == "CONNECT"; });
  bool httpsProxy = t.proxyDisplay.rfind("https://", 0) == 0;
  const std::string& v = t.verdict;
  bool noChallenge = v == "no_challenge";
  bool got401 = v == "proxy_sent_401" || v == "wrong_credentials_401";
  bool closes = v == "closes_after_407";
  std::string proxyUrl = t.proxyDisplay.empty() ? "http://PROXY:PORT" : t.proxyDisplay;

  if (v == "direct") {
    t.advice.push_back(
        {"all", "no proxy is used for this URL", "to test a proxy anyway, pass --proxy"});
    return;
  }
  if (v == "policy_denied") {
    t.advice.push_back({"all",
                        "every client gets the same refusal: no client setting or password "
                        "changes a rule",
                        "ask the proxy's administrators, quoting the evidence above"});
  } else if (v == "throttled") {
    t.advice.push_back({"all", "every request from this address is refused until the window passes",
                        "wait for Retry-After, and first fix whatever keeps sending a wrong "
                        "password (a stale password in a config file or keyring)"});
  } else if (v == "upstream_failure") {
    t.advice.push_back({"all",
                        "authentication is not the problem: the proxy could not reach or use "
                        "the destination",
                        "check the destination (name, port, TLS) from the proxy's side"});
  }
  // curl
  {
    std::string b, f;
    if (got401) {
      b = tunnel ? "curl fails with \"CONNECT tunnel failed, response 401\""
                 : "curl shows the 401 page as if the origin sent it";
      f = "fix the proxy to answer 407 with Proxy-Authenticate";
    } else if (noChallenge) {
      b = "curl -U sends Basic preemptively, so the request can still pass; --proxy-anyauth "
          "fails (no method offered)";
      f = "use -U USER:PASS without --proxy-anyauth; fix the proxy to send a challenge";
    } else if (basic) {
      b = "curl -x " + proxyUrl + " -U USER:PASS sends Basic at once (no 407 round trip)";
      f = "pass credentials with -U/--proxy-user rather than in the URL (no percent-encoding "
          "needed there)";
    } else if (ntlm || negotiate) {
      b = std::string("curl needs ") + (ntlm ? "--proxy-ntlm" : "--proxy-negotiate") +
          " (or --proxy-anyauth)";
      f = closes ? "NTLM/Negotiate need the proxy to keep the connection after 407; fix the "
                   "proxy (keep-alive on 407)"
                 : "curl --proxy-anyauth -U USER:PASS -x " + proxyUrl;
    } else if (digest) {
      b = "curl needs --proxy-digest (or --proxy-anyauth)";
      f = "curl --proxy-digest -U USER:PASS -x " + proxyUrl;
    } else {
      b = "curl -x " + proxyUrl + " works without credentials";
      f = "nothing to change";
    }
    if (httpsProxy) {
      f += "; trust the proxy's certificate with --proxy-cacert FILE (not --cacert)";
    }
    t.advice.push_back({"curl", b, f});
  }
  // Python requests
  {
    std::string b, f;
    if (ntlm || negotiate || digest) {
      if (!basic) {
        b = "requests only does Basic for proxies (from the proxy URL); " +
            std::string(ntlm        ? "NTLM"
                        : negotiate ? "Negotiate"
                                    : "Digest") +
            " proxies fail with 407";
        f = "enable Basic on the proxy, or run a local NTLM/Kerberos helper proxy (cntlm, px)";
      }
    }
    if (b.empty()) {
      if (got401) {
        b = tunnel ? "requests raises ProxyError \"Tunnel connection failed: 401\""
                   : "requests returns the 401 as the response";
        f = "fix the proxy to answer 407";
      } else if (basic || noChallenge) {
        b = "requests sends Basic preemptively from proxies={'http': ..., 'https': ...} URLs "
            "with user:password@";
        f = "percent-encode user and password in the URL: urllib.parse.quote(pw, safe='')";
      } else {
        b = "requests works without credentials";
        f = "nothing to change";
      }
    }
    if (httpsProxy) {
      f += "; https:// proxies need urllib3 >= 1.26 and the proxy's CA in the bundle "
           "(REQUESTS_CA_BUNDLE)";
    }
    t.advice.push_back({"python-requests", b, f});
  }
  // Node
  {
    std::string b = "Node's http/https modules ignore proxies (Node >= 24 honours "
                    "http_proxy/https_proxy with NODE_USE_ENV_PROXY=1); agents such as "
                    "undici ProxyAgent or https-proxy-agent send Basic from the URL or a token";
    std::string f;
    if (ntlm || negotiate || digest) {
      f = basic ? "use Basic: new ProxyAgent({uri, token: 'Basic ' + base64(user:pass)})"
                : "no Node agent does NTLM/Negotiate/Digest to a proxy out of the box; enable "
                  "Basic or use a local helper proxy";
    } else if (got401) {
      f = "agents fail the CONNECT on a 401; fix the proxy to answer 407";
    } else {
      f = basic || noChallenge
              ? "new ProxyAgent({uri: '" + proxyUrl +
                    "', token: 'Basic ' + Buffer.from('user:pass').toString('base64')})"
              : "nothing to change";
    }
    t.advice.push_back({"node", b, f});
  }
  // Java
  {
    std::string b, f;
    if (httpsProxy) {
      b = "the JDK's HttpURLConnection and HttpClient cannot speak TLS to a proxy";
      f = "use a plain-HTTP proxy port for Java clients";
    } else if (basic && tunnel) {
      b = "since 8u111 Java does not send Basic for CONNECT tunnels "
          "(jdk.http.auth.tunneling.disabledSchemes=Basic): https:// URLs loop on 407 or fail "
          "with \"Unable to tunnel through proxy\"";
      f = "-Djdk.http.auth.tunneling.disabledSchemes= (empty) with an Authenticator, plus "
          "-Dhttps.proxyHost/-Dhttps.proxyPort";
    } else if (basic) {
      b = "Java sends Basic for plain HTTP through an Authenticator "
          "(jdk.http.auth.proxying.disabledSchemes is empty by default)";
      f = "-Dhttp.proxyHost/-Dhttp.proxyPort and java.net.Authenticator.setDefault(...); for "
          "https:// targets also -Djdk.http.auth.tunneling.disabledSchemes=";
    } else if (ntlm || negotiate) {
      b = "Java supports NTLM and Negotiate to proxies natively";
      f = closes ? "the proxy must keep the connection open after 407"
                 : "provide credentials with an Authenticator (or Kerberos via JAAS)";
    } else if (got401) {
      b = "Java fails with \"Unable to tunnel through proxy. Proxy returns HTTP/1.1 401\"";
      f = "fix the proxy to answer 407";
    } else {
      b = "Java ignores http_proxy variables";
      f = "-Dhttp.proxyHost/-Dhttp.proxyPort/-Dhttps.proxyHost/-Dhttps.proxyPort";
    }
    t.advice.push_back({"java", b, f});
  }
  // Chromium
  {
    std::string b, f;
    if (noChallenge) {
      b = "Chromium shows ERR_PROXY_AUTH_UNSUPPORTED (407 with no usable challenge)";
      f = "fix the proxy to send Proxy-Authenticate";
    } else if (got401) {
      b = tunnel ? "Chromium shows ERR_TUNNEL_CONNECTION_FAILED (a 401 to CONNECT)"
                 : "Chromium prompts for the site, not the proxy";
      f = "fix the proxy to answer 407";
    } else if (basic || digest || ntlm || negotiate) {
      b = "Chromium prompts for proxy credentials on 407 (schemes allowed by the AuthSchemes "
          "policy: basic, digest, ntlm, negotiate); it ignores user:pass in --proxy-server";
      f = std::string(basic && !httpsProxy ? "Basic to a plain-HTTP proxy needs the policy "
                                             "BasicAuthOverHttpEnabled (default on); "
                                           : "") +
          "closing after 407 is fine for Basic/Digest, fatal for NTLM/Negotiate";
    } else {
      b = "Chromium uses the proxy without prompting";
      f = "nothing to change";
    }
    if (httpsProxy) {
      f += "; --proxy-server=" + proxyUrl + " with the proxy's CA in the system/NSS store";
    }
    t.advice.push_back({"chromium", b, f});
  }
}

} // namespace

std::string ProxyStatusMember::param(const std::string& key) const {
  for (const auto& [k, v] : params) {
    if (k == key) {
      return v;
    }
  }
  return "";
}

std::vector<ProxyStatusMember> parseProxyStatus(std::string_view field) {
  std::vector<ProxyStatusMember> members;
  size_t pos = 0;
  auto skipSpaces = [&] {
    while (pos < field.size() && (field[pos] == ' ' || field[pos] == '\t')) {
      ++pos;
    }
  };
  auto readItem = [&]() {
    std::string value;
    skipSpaces();
    if (pos < field.size() && field[pos] == '"') {
      ++pos;
      while (pos < field.size() && field[pos] != '"') {
        if (field[pos] == '\\' && pos + 1 < field.size()) {
          ++pos;
        }
        value.push_back(field[pos++]);
      }
      ++pos;
    } else {
      while (pos < field.size() && field[pos] != ';' && field[pos] != ',' && field[pos] != ' ' &&
             field[pos] != '=') {
        value.push_back(field[pos++]);
      }
    }
    return value;
  };
  while (pos < field.size() && members.size() < 32) {
    ProxyStatusMember member;
    member.name = readItem();
    while (true) {
      skipSpaces();
      if (pos >= field.size() || field[pos] != ';') {
        break;
      }
      ++pos;
      std::string key = readItem();
      std::string value = "?1";
      if (pos < field.size() && field[pos] == '=') {
        ++pos;
        value = readItem();
      }
      member.params.emplace_back(key, value);
    }
    skipSpaces();
    // Skip to the next member.
    while (pos < field.size() && field[pos] != ',') {
      ++pos;
    }
    ++pos;
    if (!member.name.empty()) {
      members.push_back(std::move(member));
    }
  }
  return members;
}

std::string explainProxyStatusError(std::string_view type) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"dns_timeout", "the proxy's DNS lookup of the destination timed out"},
      {"dns_error", "the destination name did not resolve at the proxy"},
      {"destination_not_found", "the destination is unknown to the proxy"},
      {"destination_unavailable", "the destination is unavailable (unreachable or marked down)"},
      {"destination_ip_prohibited", "the proxy forbids that destination address"},
      {"destination_ip_unroutable", "the proxy cannot route to that address"},
      {"connection_refused", "the destination refused the proxy's connection"},
      {"connection_terminated", "the destination closed before a complete response"},
      {"connection_timeout", "the proxy's connection to the destination timed out"},
      {"connection_read_timeout", "the destination went silent"},
      {"connection_write_timeout", "the proxy could not send to the destination in time"},
      {"connection_limit_reached", "the proxy is at its connection limit"},
      {"tls_protocol_error", "TLS between the proxy and the destination failed"},
      {"tls_certificate_error", "the destination's certificate was not trusted by the proxy"},
      {"tls_alert_received", "the destination sent a TLS alert"},
      {"http_request_error", "the proxy found the request malformed"},
      {"http_request_denied", "the proxy's policy denies this request"},
      {"http_response_incomplete", "the destination's response was incomplete"},
      {"http_response_header_section_size", "the destination's response head was too large"},
      {"http_response_header_size", "a response field was too large"},
      {"http_response_body_size", "the response body was too large"},
      {"http_response_trailer_section_size", "the response trailers were too large"},
      {"http_response_trailer_size", "a response trailer was too large"},
      {"http_response_transfer_coding", "the response's transfer coding failed"},
      {"http_response_content_coding", "the response's content coding failed"},
      {"http_response_timeout", "the destination's response did not complete in time"},
      {"http_upgrade_failed", "the protocol upgrade failed"},
      {"http_protocol_error", "the destination broke HTTP"},
      {"proxy_internal_response", "the proxy answered itself"},
      {"proxy_internal_error", "the proxy had an internal error"},
      {"proxy_configuration_error", "the proxy is misconfigured"},
      {"proxy_loop_detected", "the request looped through the same proxy"},
  };
  for (const auto& [name, text] : kTypes) {
    if (type == name) {
      return text;
    }
  }
  return "not a registered Proxy-Status error type";
}

std::string explainSquidError(std::string_view value) {
  std::string name(value.substr(0, value.find(' ')));
  static const std::pair<const char*, const char*> kErrors[] = {
      {"ERR_CACHE_ACCESS_DENIED", "Squid wants proxy credentials (its 407 page)"},
      {"ERR_ACCESS_DENIED", "Squid's http_access rules deny this request (policy)"},
      {"ERR_CONNECT_FAIL", "Squid could not connect to the destination (errno follows)"},
      {"ERR_DNS_FAIL", "Squid could not resolve the destination"},
      {"ERR_READ_TIMEOUT", "the destination went silent"},
      {"ERR_READ_ERROR", "reading from the destination failed"},
      {"ERR_WRITE_ERROR", "writing to the destination failed"},
      {"ERR_ZERO_SIZE_OBJECT", "the destination closed without a response"},
      {"ERR_INVALID_REQ", "Squid found the request malformed"},
      {"ERR_INVALID_URL", "Squid could not parse the URL"},
      {"ERR_UNSUP_REQ", "Squid does not support this request"},
      {"ERR_GATEWAY_FAILURE", "Squid's gateway failed"},
      {"ERR_CANNOT_FORWARD", "Squid may not forward this request (never_direct, no peer)"},
      {"ERR_SECURE_CONNECT_FAIL", "TLS to the destination failed"},
      {"ERR_TOO_BIG", "the request or reply is too large"},
      {"ERR_LIFETIME_EXP", "the connection lifetime expired"},
      {"ERR_SHUTTING_DOWN", "Squid is shutting down"},
  };
  for (const auto& [n, text] : kErrors) {
    if (name == n) {
      return text;
    }
  }
  return "a Squid error page";
}

void analyse(TargetReport& t, bool haveCredentials) {
  if (t.choice.direct) {
    t.verdict = "direct";
    t.headline = headlineFor(t.verdict, t);
    t.evidence.push_back(t.choice.explanation);
    buildAdvice(t);
    return;
  }
  bool sawClose407 = false;
  for (MethodRun& run : t.runs) {
    decideRun(run, haveCredentials, sawClose407);
    collectFindings(t, run);
  }
  // Cross-method: credentials that one method accepts and another refuses with 407 are
  // right; that 407 is a policy (auth fine for GET, not for CONNECT, say).
  bool someAccepted = std::any_of(t.runs.begin(), t.runs.end(), [](const MethodRun& r) {
    return r.outcome == "credentials_accepted";
  });
  for (MethodRun& run : t.runs) {
    if (someAccepted && run.outcome == "wrong_credentials") {
      const Exchange& last = run.exchanges.back();
      std::string accepted;
      for (const MethodRun& other : t.runs) {
        if (other.outcome == "credentials_accepted") {
          accepted = other.method;
        }
      }
      run.outcome = "policy_denied";
      run.summary = run.method + ": " + statusLine(*last.response) + " again after " + last.scheme +
                    " credentials that " + accepted +
                    " accepted: a denial sent as 407, not a password problem [Chromium: REJECT: "
                    "the browser asks for the password again, in vain]";
    }
  }
  for (const MethodRun& run : t.runs) {
    if (run.exchanges.empty()) {
      continue;
    }
    const Exchange& last = run.exchanges.back();
    if (run.outcome == "policy_denied" && last.response && last.response->status == 407 &&
        last.response->headers.has("X-Squid-Error")) {
      addFinding(t, "note",
                 "Squid answers 407 instead of 403 when the last ACL of the matching "
                 "http_access deny line is an auth ACL (proxy_auth, an external auth ACL): end "
                 "that line with 'all' to send 403 (Squid FAQ)");
    }
  }
  // The target's verdict: the highest-ranked outcome.
  const MethodRun* worst = nullptr;
  for (const MethodRun& run : t.runs) {
    if (worst == nullptr || info(run.outcome).rank > info(worst->outcome).rank) {
      worst = &run;
    }
  }
  t.verdict = worst ? worst->outcome : "proxy_unreachable";
  t.exitCode = info(t.verdict).exitCode;
  t.headline = headlineFor(t.verdict, t);
  for (const MethodRun& run : t.runs) {
    t.evidence.push_back(run.summary);
  }
  if (t.runs.size() > 1 && t.runs[0].outcome != t.runs[1].outcome) {
    t.evidence.push_back("the methods differ: " + t.runs[0].method + " gives " + t.runs[0].outcome +
                         ", " + t.runs[1].method + " gives " + t.runs[1].outcome);
  }
  if (t.verdict == "policy_denied" && anyResponse(t, 403)) {
    for (const auto& run : t.runs) {
      for (const auto& ex : run.exchanges) {
        if (ex.response && ex.response->status == 403 && !ex.withCredentials && haveCredentials &&
            run.exchanges.size() > 1) {
          t.evidence.push_back(run.method + ": 403 with and without credentials: the denial "
                                            "does not depend on who asks");
        }
      }
    }
  }
  if (sawClose407 && t.verdict != "closes_after_407") {
    t.evidence.push_back("the proxy closed the connection after a 407; the retry with "
                         "credentials used a new connection");
  }
  collectAnsweredBy(t);
  buildAdvice(t);
}

const char* exitCodeHelp() {
  return "Exit codes (first target whose verdict is not OK decides):\n"
         "  0  OK: credentials accepted, no auth needed, or no proxy for the URL\n"
         "  2  usage: bad URL, no password and no terminal to ask, SOCKS proxy\n"
         "  3  the proxy requires credentials and none were given\n"
         "  4  wrong credentials (407 again, or 401 instead of 407)\n"
         "  5  denied by policy (403, or 407 although the credentials are right)\n"
         "  6  proxy auth protocol broken: 407 without challenge, 401 from the proxy, only\n"
         "     schemes the probe cannot try, close after 407 with NTLM/Negotiate\n"
         "  7  throttled (429)\n"
         "  8  failure behind the proxy (502/503/504/598/599, Proxy-Status, X-Squid-Error)\n"
         "  9  cannot talk to the proxy: DNS, connect, TLS, plain HTTP on a TLS port, no answer\n"
         " 10  anything else the proxy refused; PAC errors\n";
}

} // namespace gatehouse::probe
