// Proxy-Authorization decoding: the whole field value through parseBasic (scheme, spaces,
// strict base64, the user:password split), plus base64 round trips of the raw bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "gatehouse/auth/basic_credentials.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auth::Refusal refusal = auth::Refusal::None;
  std::string scheme;
  auto credentials = auth::parseBasic(input, refusal, scheme);
  FUZZ_CHECK(auth::describe(refusal) != nullptr);
  if (credentials) {
    FUZZ_CHECK(refusal == auth::Refusal::None);
    // The split is at the first colon, so a user never holds one.
    FUZZ_CHECK(credentials->user.find(':') == std::string::npos);
  } else {
    FUZZ_CHECK(refusal != auth::Refusal::None);
    FUZZ_CHECK(scheme.size() <= 32); // what the log may show of an unknown scheme
  }

  // Whatever the decoder accepts is data it produced from exactly 3 bytes per 4 characters.
  if (auto decoded = auth::decodeBase64(input)) {
    FUZZ_CHECK(decoded->size() <= input.size() / 4 * 3);
    FUZZ_CHECK(auth::decodeBase64(auth::encodeBase64(*decoded)) == decoded);
  }
  // Encoding any bytes decodes back to them (empty input is refused by design).
  std::string encoded = auth::encodeBase64(input);
  auto back = auth::decodeBase64(encoded);
  FUZZ_CHECK(input.empty() ? !back.has_value() : back.has_value() && *back == input);
  return 0;
}
