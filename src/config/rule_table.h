#pragma once
// For src/config only: one [[rule]] table of a configuration file read into a RuleSpec.

#include <string>
#include <toml++/toml.h>

#include "gatehouse/config/config.h"

namespace gatehouse::config {

// Reads the [[rule]] table `table` of file `name`; `at` is the table itself, for the rule's
// location. Throws ConfigError naming file and line for unknown keys, wrong types, a missing
// name or action, and report or via on the wrong kind of rule.
RuleSpec parseRule(const toml::table& table, const std::string& name, const toml::node& at);

} // namespace gatehouse::config
