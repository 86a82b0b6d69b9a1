// pacparser keeps one global JavaScript context; each evaluation builds and tears it down.

#include "gatehouse/probe/pac.h"

#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include <pacparser.h>

#include "gatehouse/http/uri.h"
#include "gatehouse/probe/response_reader.h"

// LeakSanitizer: pacparser_find_proxy leaks its escaped copy of the URL (a few bytes per
// evaluation, once per target); that is the library's, not ours to free.
#if defined(__SANITIZE_ADDRESS__)
#define GATEHOUSE_PAC_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GATEHOUSE_PAC_LSAN 1
#endif
#endif
#ifdef GATEHOUSE_PAC_LSAN
extern "C" const char* __lsan_default_suppressions() {
  return "leak:pacparser_find_proxy\n";
}
#endif

namespace gatehouse::probe {

namespace {

// pacparser reports errors through a printf-like callback; collect them for the report.
std::string& pacErrors() {
  static std::string errors;
  return errors;
}

int collectError(const char* format, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  if (pacErrors().size() < 4096) {
    pacErrors() += buf;
  }
  return n;
}

bool fetchHttp(const std::string& url, std::chrono::milliseconds timeout, std::string& body,
               std::string& error) {
  auto uri = http::parseAbsoluteUri(url, error);
  if (!uri) {
    return false;
  }
  auto addresses = resolve(uri->authority.host, uri->authority.port, error);
  Connection connection;
  bool connected = false;
  for (const auto& address : addresses) {
    connected = connection.connect(address, timeout, error);
    if (connected) {
      break;
    }
  }
  if (!connected) {
    error = "cannot connect to " + uri->authority.hostPort() + ": " + error;
    return false;
  }
  if (uri->scheme == "https") {
    TlsInfo info;
    if (!connection.startTls(uri->authority.host, "", false, timeout, info)) {
      error = info.error;
      return false;
    }
  }
  std::string request = "GET " + uri->originForm + " HTTP/1.1\r\nHost: " + uri->hostHeader() +
                        "\r\nUser-Agent: gatehouse-probe/0.1\r\nAccept: "
                        "application/x-ns-proxy-autoconfig, */*\r\nConnection: close\r\n\r\n";
  if (!connection.sendAll(request, error)) {
    return false;
  }
  ResponseRecord record;
  if (!readResponse(connection, "GET", timeout, record, error, &body)) {
    return false;
  }
  if (record.notHttp || record.status != 200) {
    error = "fetching the PAC file got " +
            (record.notHttp ? std::string("a non-HTTP answer") : std::to_string(record.status));
    return false;
  }
  return true;
}

} // namespace

bool loadPacScript(const std::string& source, std::chrono::milliseconds timeout,
                   std::string& script, std::string& error) {
  if (source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0) {
    return fetchHttp(source, timeout, script, error);
  }
  std::string path = source.rfind("file://", 0) == 0 ? source.substr(7) : source;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path;
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  script = text.str();
  if (script.size() > kMaxBodyBytes) {
    error = "PAC file larger than 1 MiB";
    return false;
  }
  return true;
}

PacEvaluation evaluatePac(const std::string& script, const std::string& urlIn,
                          const std::string& host) {
  static std::mutex mutex; // pacparser has one global context
  std::lock_guard lock(mutex);
  PacEvaluation result;
  pacErrors().clear();
  pacparser_set_error_printer(collectError);
  if (pacparser_init() == 0) {
    result.error = "pacparser_init failed: " + pacErrors();
    return result;
  }
  if (pacparser_parse_pac_string(script.c_str()) == 0) {
    result.error = "the PAC script does not evaluate: " + pacErrors();
    pacparser_cleanup();
    return result;
  }
  // pacparser 1.3.6 escapes each ' in the URL as %27 into a buffer sized for the unescaped
  // URL (a heap overflow) and never frees the escaped copy; escaping here first keeps its copy
  // exactly as long as the URL. A ' in a host it refuses itself.
  std::string url;
  for (char c : urlIn) {
    url += c == '\'' ? std::string("%27") : std::string(1, c);
  }
  char* found = pacparser_find_proxy(url.c_str(), host.c_str());
  if (found == nullptr) {
    result.error = "FindProxyForURL failed: " + pacErrors();
    pacparser_cleanup();
    return result;
  }
  result.result = found; // owned by the JavaScript context: copy before cleanup
  pacparser_cleanup();
  result.entries = parsePacResult(result.result, result.problems);
  result.ok = true;
  return result;
}

} // namespace gatehouse::probe
