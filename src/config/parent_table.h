#pragma once
// For src/config only: one [[parent]] table of a configuration file read into a ParentSpec,
// and the wiping of parent urls (they may hold a password) from a parsed tree.

#include <string>
#include <toml++/toml.h>

#include "gatehouse/config/config.h"

namespace gatehouse::config {

// Reads the [[parent]] table `table` of file `name`; `at` is the table itself, for the
// parent's location. Reads the credentials_file if there is one. Throws ConfigError naming
// file and line; the message never quotes the url or the credentials.
ParentSpec parseParent(const toml::table& table, const std::string& name, const toml::node& at);

// Overwrites every [[parent]] url in `table`, to be done before the parsed tree is freed.
void wipeParentUrls(toml::table& table);

} // namespace gatehouse::config
