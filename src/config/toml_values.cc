// Reading values out of a parsed TOML tree: errors name the file and line of the value.

#include "toml_values.h"

#include "text_values.h"

namespace gatehouse::config {

std::optional<std::string> scalarText(const toml::node& node) {
  if (auto s = node.as_string()) {
    return s->get();
  }
  if (auto i = node.as_integer()) {
    return std::to_string(i->get());
  }
  if (auto b = node.as_boolean()) {
    return b->get() ? "true" : "false";
  }
  return std::nullopt;
}

std::string where(const std::string& name, const toml::node& node) {
  return name + ":" + std::to_string(node.source().begin.line) + ": ";
}

SourceLocation locate(const std::string& name, const toml::node& node) {
  return SourceLocation{name, static_cast<uint32_t>(node.source().begin.line)};
}

std::string directoryOf(const std::string& file) {
  size_t slash = file.rfind('/');
  return slash == std::string::npos ? "" : file.substr(0, slash + 1);
}

bool booleanValue(const toml::node& node, const std::string& name, const std::string& key) {
  auto b = node.as_boolean();
  if (b == nullptr) {
    throw ConfigError(where(name, node) + key + ": expected true or false");
  }
  return b->get();
}

std::string nameValue(const toml::node& node, const std::string& name, const std::string& key) {
  auto s = node.as_string();
  if (s == nullptr || s->get().empty() || s->get().size() > 100) {
    throw ConfigError(where(name, node) + key + ": expected a name (1-100 characters)");
  }
  for (char c : s->get()) {
    if (!isTokenChar(c)) {
      throw ConfigError(where(name, node) + key + ": \"" + s->get() +
                        "\" is not a name (letters, digits and -._ only)");
    }
  }
  return s->get();
}

} // namespace gatehouse::config
