// The configuration file: arbitrary text through config::loadString (toml++ then every
// setting's own parser: durations, sizes, port lists, listen addresses, DNS servers...) and the
// cross-setting validation. A bad file must only ever raise ConfigError naming file and line;
// any other exception escapes the target and is a finding.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "gatehouse/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse;
  std::string text(reinterpret_cast<const char*>(data), size);
  config::Config config;
  try {
    config::loadString(text, "fuzz.toml", config);
  } catch (const config::ConfigError& error) {
    FUZZ_CHECK(std::string(error.what()).rfind("fuzz.toml:", 0) == 0);
    return 0;
  }
  try {
    config::validate(config);
  } catch (const config::ConfigError&) {
    return 0;
  }
  // What start-up does next with a valid file: every listen address parses.
  FUZZ_CHECK(config.listenAddresses().size() == config.listen.size());
  FUZZ_CHECK(config.tlsListenAddresses().size() == config.tlsListen.size());
  return 0;
}
