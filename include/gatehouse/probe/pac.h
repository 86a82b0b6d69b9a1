#pragma once
// PAC files through Debian's libpacparser (its own JavaScript engine, with the PAC helpers
// isInNet, dnsDomainIs, shExpMatch, ...). Note: pacparser's dnsResolve(), isResolvable(),
// isInNet() on names and myIpAddress() call the system resolver (getaddrinfo, after
// gethostname for myIpAddress) synchronously; a PAC file that uses them makes real DNS
// queries.

#include <chrono>
#include <string>
#include <vector>

#include "gatehouse/probe/proxy_selection.h"

namespace gatehouse::probe {

// What FindProxyForURL returned for one URL.
struct PacEvaluation {
  bool ok = false;
  std::string error;
  std::string source; // file path or URL
  std::string result; // the raw string
  std::vector<PacEntry> entries;
  std::vector<std::string> problems;
};

// Reads the PAC script from a file, a file:// URL or an http(s):// URL (fetched directly,
// never through a proxy).
bool loadPacScript(const std::string& source, std::chrono::milliseconds timeout,
                   std::string& script, std::string& error);
// Evaluates FindProxyForURL(url, host) in a fresh pacparser context.
PacEvaluation evaluatePac(const std::string& script, const std::string& url,
                          const std::string& host);

} // namespace gatehouse::probe
