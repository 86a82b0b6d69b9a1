// [[rule]] tables read into RuleSpecs: every key checked for its type, with file and line.
// What the values mean (CIDRs, host patterns, the hosts file) is the policy layer's to check.

#include "rule_table.h"

#include "text_values.h"
#include "toml_values.h"

namespace gatehouse::config {

namespace {

// A string, or an array of strings, each with its line. Throws for other types.
std::vector<LocatedString> stringList(const toml::node& node, const std::string& name,
                                      const std::string& key) {
  std::vector<LocatedString> out;
  auto one = [&](const toml::node& value) {
    auto s = value.as_string();
    if (s == nullptr || s->get().empty()) {
      throw ConfigError(where(name, value) + key + ": expected a non-empty string");
    }
    out.push_back({s->get(), locate(name, value)});
  };
  if (auto array = node.as_array()) {
    if (array->empty()) {
      throw ConfigError(where(name, node) + key + ": empty list (leave the key out instead)");
    }
    for (const auto& element : *array) {
      one(element);
    }
  } else {
    one(node);
  }
  return out;
}

// Ports as numbers or "8000-8999" strings, or one "443,8000-8999" string.
PortList portsValue(const toml::node& node, const std::string& name) {
  std::string text;
  auto append = [&](const toml::node& value) {
    if (auto i = value.as_integer()) {
      text += (text.empty() ? "" : ",") + std::to_string(i->get());
    } else if (auto s = value.as_string()) {
      text += (text.empty() ? "" : ",") + s->get();
    } else {
      throw ConfigError(where(name, value) + "ports: expected port numbers or \"low-high\"");
    }
  };
  if (auto array = node.as_array()) {
    for (const auto& element : *array) {
      append(element);
    }
  } else {
    append(node);
  }
  std::string error;
  auto list = PortList::parse(text, error);
  if (!list) {
    throw ConfigError(where(name, node) + "ports: " + error);
  }
  return *list;
}

} // namespace

RuleSpec parseRule(const toml::table& table, const std::string& name, const toml::node& at) {
  RuleSpec rule;
  rule.where = locate(name, at);
  bool hasAction = false;
  for (const auto& [keyName, node] : table) {
    const std::string key(keyName.str());
    if (key == "name") {
      rule.name = nameValue(node, name, key);
    } else if (key == "action") {
      auto s = node.as_string();
      if (s == nullptr || (s->get() != "allow" && s->get() != "deny")) {
        throw ConfigError(where(name, node) + "action: expected \"allow\" or \"deny\"");
      }
      rule.action = s->get() == "allow" ? RuleAction::Allow : RuleAction::Deny;
      hasAction = true;
    } else if (key == "report") {
      rule.report = booleanValue(node, name, key);
    } else if (key == "connect") {
      rule.connect = booleanValue(node, name, key);
    } else if (key == "clients") {
      rule.clients = stringList(node, name, key);
    } else if (key == "users") {
      rule.users = stringList(node, name, key);
    } else if (key == "groups") {
      rule.groups = stringList(node, name, key);
    } else if (key == "hosts") {
      rule.hosts = stringList(node, name, key);
    } else if (key == "cidrs") {
      rule.cidrs = stringList(node, name, key);
    } else if (key == "methods") {
      rule.methods = stringList(node, name, key);
      for (LocatedString& m : rule.methods) {
        for (char c : m.value) {
          if (!isTokenChar(c)) {
            throw ConfigError(m.where.prefix() + "methods: \"" + m.value + "\" is not a method");
          }
        }
      }
    } else if (key == "ports") {
      rule.ports = portsValue(node, name);
    } else if (key == "hosts_file") {
      auto s = node.as_string();
      if (s == nullptr || s->get().empty()) {
        throw ConfigError(where(name, node) + "hosts_file: expected a file name");
      }
      rule.hostsFile = s->get().front() == '/' ? s->get() : directoryOf(name) + s->get();
      rule.hostsFileWhere = locate(name, node);
    } else if (key == "via") {
      rule.via = nameValue(node, name, key);
      rule.viaWhere = locate(name, node);
    } else {
      throw ConfigError(where(name, node) + "unknown key \"" + key + "\" in [[rule]]");
    }
  }
  std::string label = rule.where.prefix() + "[[rule]]";
  if (rule.name.empty()) {
    throw ConfigError(label + " needs a name");
  }
  label += " \"" + rule.name + "\"";
  if (!hasAction) {
    throw ConfigError(label + " needs an action (allow or deny)");
  }
  if (rule.report && rule.action != RuleAction::Deny) {
    throw ConfigError(label + ": report = true only makes sense on a deny rule");
  }
  if (!rule.via.empty() && rule.action != RuleAction::Allow) {
    throw ConfigError(label + ": via only makes sense on an allow rule");
  }
  return rule;
}

} // namespace gatehouse::config
