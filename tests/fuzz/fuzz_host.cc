// Feeds arbitrary bytes to the host normaliser (WHATWG-style IPv4 forms, bracketed IPv6,
// names), then checks what it promises: the result is stable (normalising it again changes
// nothing), an address result prints as its own text, and the classifier and CIDR parser
// accept whatever comes out. Also runs the --explain query parser on the same bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gatehouse/policy/address_class.h"
#include "gatehouse/policy/explain.h"
#include "gatehouse/policy/host_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::policy;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto host = normaliseHost(input, error)) {
    std::string again;
    auto second = normaliseHost(host->text, again);
    if (!second || second->text != host->text) {
      std::abort(); // normalisation must be idempotent
    }
    if (host->address) {
      if (host->address->toString() != host->text) {
        std::abort();
      }
      classifyAddress(*host->address).describe();
      Cidr::parse(host->text, error);
    }
  }
  parseLenientIpv4(input);
  if (auto address = IpAddress::parse(input)) {
    classifyAddress(*address);
  }
  Cidr::parse(input, error);
  parseExplainQuery(input, error);
  return 0;
}
