// The report as text for people (colour only on a terminal) and as JSON for scripts; the
// JSON schema is documented in docs/probe.md.

#include <cstdio>

#include "gatehouse/probe/probe.h"

namespace gatehouse::probe {

namespace {

// ANSI colours, or nothing.
struct Palette {
  bool on;
  std::string wrap(const char* code, const std::string& text) const {
    return on ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  }
  std::string good(const std::string& t) const { return wrap("32", t); }
  std::string bad(const std::string& t) const { return wrap("31", t); }
  std::string warn(const std::string& t) const { return wrap("33", t); }
  std::string bold(const std::string& t) const { return wrap("1", t); }
  std::string dim(const std::string& t) const { return wrap("2", t); }
};

std::string indentLines(const std::string& text, const std::string& prefix) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty()) {
      continue;
    }
    out += prefix + line + "\n";
  }
  return out;
}

void jsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else if (c >= 0x80) {
        // Bytes from the network need not be UTF-8: escape as Latin-1 code points.
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out.push_back(ch);
      }
    }
  }
  out.push_back('"');
}

// A small streaming JSON writer with comma bookkeeping.
class Json {
public:
  std::string out;
  void beginObject() {
    value();
    out += "{";
    first_ = true;
  }
  void endObject() {
    out += "}";
    first_ = false;
  }
  void beginArray() {
    value();
    out += "[";
    first_ = true;
  }
  void endArray() {
    out += "]";
    first_ = false;
  }
  void key(std::string_view k) {
    if (!first_) {
      out += ",";
    }
    jsonString(out, k);
    out += ":";
    first_ = true;
    afterKey_ = true;
  }
  void str(std::string_view s) {
    value();
    jsonString(out, s);
    first_ = false;
  }
  void num(long n) {
    value();
    out += std::to_string(n);
    first_ = false;
  }
  void boolean(bool b) {
    value();
    out += b ? "true" : "false";
    first_ = false;
  }
  void null() {
    value();
    out += "null";
    first_ = false;
  }
  void strings(std::string_view k, const std::vector<std::string>& list) {
    key(k);
    beginArray();
    for (const auto& s : list) {
      str(s);
    }
    endArray();
  }

private:
  void value() {
    if (afterKey_) {
      afterKey_ = false;
      return;
    }
    if (!first_) {
      out += ",";
    }
  }
  bool first_ = true;
  bool afterKey_ = false;
};

void jsonChallenges(Json& j, const ChallengeList& list) {
  j.beginArray();
  for (const auto& c : list.challenges) {
    j.beginObject();
    j.key("scheme");
    j.str(c.scheme);
    j.key("token68");
    j.str(c.token68);
    j.key("params");
    j.beginArray();
    for (const auto& p : c.params) {
      j.beginObject();
      j.key("name");
      j.str(p.name);
      j.key("value");
      j.str(p.value);
      j.key("quoted");
      j.boolean(p.quoted);
      j.endObject();
    }
    j.endArray();
    j.strings("details", challengeDetails(c));
    j.strings("violations", challengeViolations(c));
    j.endObject();
  }
  j.endArray();
}

void jsonResponse(Json& j, const ResponseRecord& r) {
  j.beginObject();
  j.key("not_http");
  j.boolean(r.notHttp);
  j.key("raw_excerpt");
  j.str(r.rawExcerpt);
  j.key("status");
  j.num(r.status);
  j.key("reason");
  j.str(r.reason);
  j.key("version");
  j.str(r.version);
  j.key("interim");
  j.beginArray();
  for (int s : r.interim) {
    j.num(s);
  }
  j.endArray();
  j.key("headers");
  j.beginArray();
  for (const auto& f : r.headers.fields()) {
    j.beginArray();
    j.str(f.name);
    j.str(f.value);
    j.endArray();
  }
  j.endArray();
  j.key("body_bytes");
  j.num(static_cast<long>(r.bodyBytes));
  j.key("close_after");
  j.boolean(r.closeAfter);
  j.key("close_reason");
  j.str(r.closeReason);
  j.key("strict_parse_error");
  j.str(r.strictError);
  j.key("proxy_authenticate");
  jsonChallenges(j, r.proxyChallenges);
  j.strings("proxy_authenticate_problems", r.proxyChallenges.problems);
  j.key("www_authenticate");
  jsonChallenges(j, r.wwwChallenges);
  j.endObject();
}

} // namespace

// JSON in the documented shape; every string goes through jsonString, so whatever bytes a
// proxy sent, the output stays valid JSON.
std::string renderJson(const Report& report) {
  Json j;
  j.beginObject();
  j.key("schema");
  j.str("gatehouse-probe/1");
  j.key("exit_code");
  j.num(report.exitCode);
  j.key("credentials");
  if (report.credentialsSource.empty()) {
    j.null();
  } else {
    j.beginObject();
    j.key("source");
    j.str(report.credentialsSource);
    j.key("user");
    j.str(report.user);
    j.strings("checks", report.credentialChecks);
    j.endObject();
  }
  j.key("targets");
  j.beginArray();
  for (const TargetReport& t : report.targets) {
    j.beginObject();
    j.key("url");
    j.str(t.url);
    j.key("proxy");
    j.beginObject();
    j.key("url");
    if (t.proxyDisplay.empty()) {
      j.null();
    } else {
      j.str(t.proxyDisplay);
    }
    j.key("decided_by");
    j.str(t.choice.decidedBy);
    j.key("explanation");
    j.str(t.choice.explanation);
    j.strings("pac", t.pacDetails);
    j.strings("url_notes", t.proxyUrlNotes);
    j.endObject();
    j.key("verdict");
    j.beginObject();
    j.key("code");
    j.str(t.verdict);
    j.key("summary");
    j.str(t.headline);
    j.key("exit_code");
    j.num(t.exitCode);
    j.strings("evidence", t.evidence);
    j.endObject();
    j.strings("answered_by", t.answeredBy);
    j.key("methods");
    j.beginArray();
    for (const MethodRun& run : t.runs) {
      j.beginObject();
      j.key("method");
      j.str(run.method);
      j.key("outcome");
      j.str(run.outcome);
      j.key("summary");
      j.str(run.summary);
      j.key("steps");
      j.beginArray();
      for (const Step& s : run.steps) {
        j.beginObject();
        j.key("name");
        j.str(s.name);
        j.key("ok");
        j.boolean(s.ok);
        j.key("detail");
        j.str(s.detail);
        j.key("elapsed_ms");
        j.num(s.elapsedMs);
        j.endObject();
      }
      j.endArray();
      j.key("exchanges");
      j.beginArray();
      for (const Exchange& ex : run.exchanges) {
        j.beginObject();
        j.key("method");
        j.str(ex.method);
        j.key("target");
        j.str(ex.target);
        j.key("with_credentials");
        j.boolean(ex.withCredentials);
        j.key("new_connection");
        j.boolean(ex.newConnection);
        j.key("request");
        j.str(ex.requestText);
        j.key("error");
        j.str(ex.error);
        j.key("elapsed_ms");
        j.num(ex.elapsedMs);
        j.key("response");
        if (ex.response) {
          jsonResponse(j, *ex.response);
        } else {
          j.null();
        }
        j.endObject();
      }
      j.endArray();
      j.endObject();
    }
    j.endArray();
    j.key("findings");
    j.beginArray();
    for (const Finding& f : t.findings) {
      j.beginObject();
      j.key("severity");
      j.str(f.severity);
      j.key("text");
      j.str(f.text);
      j.endObject();
    }
    j.endArray();
    j.key("advice");
    j.beginArray();
    for (const Advice& a : t.advice) {
      j.beginObject();
      j.key("client");
      j.str(a.client);
      j.key("behaviour");
      j.str(a.behaviour);
      j.key("fix");
      j.str(a.fix);
      j.endObject();
    }
    j.endArray();
    j.endObject();
  }
  j.endArray();
  j.endObject();
  return j.out + "\n";
}

// Text: the verdict line first, its evidence, then the flow per method (requests with '>',
// answers with '<'), who answered, findings, client advice and the credential checks.
std::string renderText(const Report& report, bool color) {
  Palette p{color};
  std::string out;
  for (const TargetReport& t : report.targets) {
    bool ok = t.exitCode == kExitOk;
    out += p.bold(ok ? p.good("OK: " + t.headline) : p.bad("PROBLEM: " + t.headline)) + "\n";
    for (const auto& e : t.evidence) {
      out += "  - " + e + "\n";
    }
    out += "\n" + p.bold("target") + "  " + t.url + "\n";
    out += p.bold("proxy") + "   " + (t.proxyDisplay.empty() ? "none (direct)" : t.proxyDisplay) +
           "  [decided by " + t.choice.decidedBy + ": " + t.choice.explanation + "]\n";
    for (const auto& d : t.pacDetails) {
      out += "        PAC: " + d + "\n";
    }
    for (const auto& n : t.proxyUrlNotes) {
      out += "        " + p.warn("proxy URL: " + n) + "\n";
    }
    for (const MethodRun& run : t.runs) {
      out += "\n" + p.bold(run.method == "GET" ? "== absolute-form GET" : "== CONNECT") + "\n";
      for (const Step& s : run.steps) {
        out += "  " + (s.ok ? p.good("[ok]  ") : p.bad("[fail]")) + " " + s.name + "  " + s.detail +
               p.dim(" (" + std::to_string(s.elapsedMs) + " ms)") + "\n";
      }
      for (const Exchange& ex : run.exchanges) {
        out +=
            "\n  " +
            p.dim(std::string(ex.withCredentials ? "with credentials" : "without credentials") +
                  (ex.newConnection ? ", on a new connection"
                                    : (&ex == &run.exchanges.front() ? "" : ", same connection"))) +
            "\n";
        out += indentLines(ex.requestText, "  > ");
        if (!ex.response) {
          out += "  " + p.bad("x " + ex.error) + "\n";
          continue;
        }
        const ResponseRecord& r = *ex.response;
        if (r.notHttp) {
          out += "  < " + r.rawExcerpt + "\n";
        } else {
          for (int s : r.interim) {
            out += "  < (interim " + std::to_string(s) + ")\n";
          }
          out += "  < " + r.version + " " + std::to_string(r.status) + " " + r.reason + "\n";
          for (const auto& f : r.headers.fields()) {
            out += "  < " + f.name + ": " + f.value + "\n";
          }
          if (r.bodyBytes > 0) {
            out += p.dim("  < (" + std::to_string(r.bodyBytes) + " body bytes)") + "\n";
          }
        }
        if (r.closeAfter) {
          out += p.dim("  connection closes after this response: " + r.closeReason) + "\n";
        }
        if (!r.proxyChallenges.challenges.empty()) {
          out += "  challenges:\n";
          for (const auto& c : r.proxyChallenges.challenges) {
            out += "    * " + c.scheme;
            for (const auto& d : challengeDetails(c)) {
              out += "\n        " + d;
            }
            out += "\n";
          }
        }
      }
      out += "  => " + (run.outcome.empty() ? std::string("?") : run.summary) + "\n";
    }
    if (!t.answeredBy.empty()) {
      out += "\n" + p.bold("who answered") + "\n";
      for (const auto& a : t.answeredBy) {
        out += "  " + a + "\n";
      }
    }
    if (!t.findings.empty()) {
      out += "\n" + p.bold("findings") + "\n";
      for (const Finding& f : t.findings) {
        std::string label = f.severity == "violation" ? p.bad("violation")
                            : f.severity == "warning" ? p.warn("warning")
                                                      : "note";
        out += "  " + label + ": " + f.text + "\n";
      }
    }
    if (!t.advice.empty()) {
      out += "\n" + p.bold("what clients will do") + "\n";
      for (const Advice& a : t.advice) {
        out += "  " + p.bold(a.client) + ": " + a.behaviour + "\n      fix: " + a.fix + "\n";
      }
    }
    out += "\n";
  }
  if (!report.credentialsSource.empty()) {
    out += p.bold("credentials") + " (from " + report.credentialsSource + ", user \"" +
           report.user + "\"; the password is never printed)\n";
    for (const auto& c : report.credentialChecks) {
      out += "  " + c + "\n";
    }
  }
  out += "exit code " + std::to_string(report.exitCode) + "\n";
  return out;
}

} // namespace gatehouse::probe
