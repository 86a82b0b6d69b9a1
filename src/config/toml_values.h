#pragma once
// For src/config only: reading values out of a parsed TOML tree. `name` is the file name used
// in errors; every ConfigError thrown here starts with "name:line: " of the offending value.

#include <optional>
#include <string>
#include <toml++/toml.h>

#include "gatehouse/config/config.h"

namespace gatehouse::config {

// A TOML scalar as the text a flag would carry; nullopt for tables and arrays.
std::optional<std::string> scalarText(const toml::node& node);

// "name:line: ", the prefix of an error about `node`.
std::string where(const std::string& name, const toml::node& node);

// Where `node` was written, kept for checks made after loading.
SourceLocation locate(const std::string& name, const toml::node& node);

// The directory part of a file name, with its slash ("" for a bare name).
std::string directoryOf(const std::string& file);

// A TOML boolean; throws for other types.
bool booleanValue(const toml::node& node, const std::string& name, const std::string& key);

// A rule or parent name: 1-100 token characters; throws otherwise.
std::string nameValue(const toml::node& node, const std::string& name, const std::string& key);

} // namespace gatehouse::config
