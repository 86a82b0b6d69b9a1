// Feeds arbitrary bytes to the PROXY protocol header parser and checks what the reader in
// front of each proxy_protocol connection relies on: a complete header never claims more
// bytes than it was given or than the caps allow, every shorter prefix of it asks for more
// (so reading in pieces finds the same end), and NeedMore always asks for more than it has.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gatehouse/proxy/proxy_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::proxy;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ProxyParse whole = parseProxyHeader(input);
  if (whole.status == ProxyParse::Status::NeedMore && whole.needAtLeast <= size &&
      whole.needAtLeast != 0) {
    std::abort(); // it had what it asked for
  }
  if (whole.status != ProxyParse::Status::Done) {
    return 0;
  }
  const ProxyHeader& header = whole.header;
  if (header.length == 0 || header.length > size ||
      header.length > (header.version == 1 ? kProxyV1MaxLength : kProxyV2MaxLength)) {
    std::abort();
  }
  // The header alone parses the same; a prefix one byte short (and one chosen by the data)
  // needs more.
  ProxyParse exact = parseProxyHeader(input.substr(0, header.length));
  if (exact.status != ProxyParse::Status::Done || exact.header.length != header.length) {
    std::abort();
  }
  for (size_t cut : {header.length - 1, static_cast<size_t>(data[0]) % header.length}) {
    if (parseProxyHeader(input.substr(0, cut)).status != ProxyParse::Status::NeedMore) {
      std::abort();
    }
  }
  return 0;
}
