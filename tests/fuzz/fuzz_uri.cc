// Request-target parsing: classification, authority-form (CONNECT host:port) and absolute-form
// (http://host[:port]/path). What is accepted must be usable as is: a lower-case, non-empty
// host, a port, an origin-form starting with '/', and a Host value that parses back the same.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "gatehouse/http/uri.h"

namespace {
bool hasUpper(const std::string& text) {
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') {
      return true;
    }
  }
  return false;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  std::string_view target(reinterpret_cast<const char*>(data), size);
  http::classifyTarget(target);

  std::string error;
  if (auto authority = http::parseAuthorityForm(target, error)) {
    FUZZ_CHECK(!authority->host.empty() && !hasUpper(authority->host));
    FUZZ_CHECK(authority->port != 0 && authority->explicitPort);
    std::string again;
    auto reparsed = http::parseAuthorityForm(authority->hostPort(), again);
    FUZZ_CHECK(reparsed && reparsed->host == authority->host && reparsed->port == authority->port &&
               reparsed->ipv6 == authority->ipv6);
  } else {
    FUZZ_CHECK(!error.empty());
  }

  error.clear();
  if (auto uri = http::parseAbsoluteUri(target, error)) {
    FUZZ_CHECK(uri->scheme == "http" || uri->scheme == "https");
    FUZZ_CHECK(!uri->authority.host.empty() && !hasUpper(uri->authority.host));
    FUZZ_CHECK(uri->authority.port != 0);
    FUZZ_CHECK(!uri->originForm.empty() && uri->originForm.front() == '/');
    FUZZ_CHECK(uri->originForm.find('#') == std::string::npos);
    std::string again;
    auto reparsed =
        http::parseAbsoluteUri(uri->scheme + "://" + uri->hostHeader() + uri->originForm, again);
    FUZZ_CHECK(reparsed && reparsed->authority.host == uri->authority.host &&
               reparsed->authority.port == uri->authority.port &&
               reparsed->originForm == uri->originForm);
  } else {
    FUZZ_CHECK(!error.empty());
  }
  return 0;
}
