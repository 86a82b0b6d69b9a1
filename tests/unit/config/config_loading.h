#pragma once
// What the config unit tests share: a configuration loaded from TOML text, or the error it
// gives (with the file name it is reported under).

#include <string>

#include "gatehouse/config/config.h"

namespace gatehouse::config::testing {

inline Config load(const std::string& text, const std::string& name = "test.toml") {
  Config c;
  loadString(text, name, c);
  return c;
}

// The ConfigError's message, or "" when the text loads.
inline std::string loadError(const std::string& text, const std::string& name = "test.toml") {
  Config c;
  try {
    loadString(text, name, c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

} // namespace gatehouse::config::testing
