#include "gatehouse/config/config.h"

#include <filesystem>
#include <fstream>
#include <openssl/crypto.h>
#include <thread>
#include <toml++/toml.h>
#include <unistd.h>

#include "parent_table.h"
#include "rule_table.h"
#include "text_values.h"
#include "toml_values.h"

namespace gatehouse::config {

namespace {

// [[rule]] and [[parent]]: arrays of tables.
template <class Parse>
void applyTables(const toml::node& node, const std::string& name, const std::string& key,
                 Parse parse) {
  auto array = node.as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    throw ConfigError(where(name, node) + key + ": use [[" + key + "]] tables");
  }
  for (const auto& element : *array) {
    parse(*element.as_table(), element);
  }
}

void applyTable(const toml::table& table, const std::string& name, Config& config) {
  for (const auto& [key, node] : table) {
    if (key.str() == "rule") {
      applyTables(node, name, "rule", [&](const toml::table& t, const toml::node& at) {
        config.rules.push_back(parseRule(t, name, at));
      });
      continue;
    }
    if (key.str() == "parent") {
      applyTables(node, name, "parent", [&](const toml::table& t, const toml::node& at) {
        config.parents.push_back(parseParent(t, name, at));
      });
      continue;
    }
    const Setting* setting = nullptr;
    for (const Setting& s : settings()) {
      if (key.str() == s.key) {
        setting = &s;
      }
    }
    if (setting == nullptr) {
      throw ConfigError(where(name, node) + "unknown key \"" + std::string(key.str()) + "\"");
    }
    const std::string keyName(key.str()); // structured bindings cannot be captured in C++20
    auto applyOne = [&](const toml::node& value) {
      auto text = scalarText(value);
      if (!text) {
        throw ConfigError(where(name, value) + keyName + ": expected a string, number or boolean");
      }
      if (auto error = setting->apply(config, *text)) {
        throw ConfigError(where(name, value) + keyName + ": " + *error);
      }
    };
    if (setting->repeated) {
      setting->clear(config); // the file's list replaces the default
      if (auto array = node.as_array()) {
        if (array->empty()) {
          throw ConfigError(where(name, node) + std::string(key.str()) + ": empty list");
        }
        for (const auto& element : *array) {
          applyOne(element);
        }
        continue;
      }
    }
    applyOne(node);
  }
}

} // namespace

std::string SourceLocation::prefix() const {
  return file + ":" + std::to_string(line) + ": ";
}

const ParentSpec* Config::parent(std::string_view wanted) const {
  for (const ParentSpec& p : parents) {
    if (p.name == wanted) {
      return &p;
    }
  }
  return nullptr;
}

void loadString(const std::string& text, const std::string& name, Config& config) {
  toml::table table;
  try {
    table = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(name + ":" + std::to_string(e.source().begin.line) + ": " +
                      std::string(e.description()));
  }
  try {
    applyTable(table, name, config);
  } catch (...) {
    wipeParentUrls(table);
    throw;
  }
  wipeParentUrls(table);
}

void loadFile(const std::string& path, Config& config) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ignored;
  if (!in || std::filesystem::is_directory(path, ignored)) {
    throw ConfigError(path + ": cannot read the configuration file");
  }
  // The file may hold a parent's password: read it into one buffer of the right size (no
  // stream or regrowth leaving copies behind) and wipe it once parsed, whatever happens.
  std::string text;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size > 64 * 1024 * 1024) {
    throw ConfigError(path + ": configuration file larger than 64 MiB");
  }
  if (size >= 0) {
    in.seekg(0, std::ios::beg);
    text.resize(static_cast<size_t>(size));
    in.read(text.data(), size);
    text.resize(static_cast<size_t>(in.gcount()));
  } else {
    // A pipe (--config <(...)): read in chunks into a generous reservation.
    in.clear();
    text.reserve(1024 * 1024);
    char chunk[4096];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
      text.append(chunk, static_cast<size_t>(in.gcount()));
      if (text.size() > 64 * 1024 * 1024) {
        wipeString(text);
        throw ConfigError(path + ": configuration file larger than 64 MiB");
      }
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
  }
  struct Wipe {
    std::string& text;
    ~Wipe() { wipeString(text); }
  } wipe{text};
  loadString(text, path, config);
}

void validate(const Config& c) {
  if (!c.tlsListen.empty() && (c.tlsCert.empty() || c.tlsKey.empty())) {
    throw ConfigError("tls_listen needs tls_cert and tls_key");
  }
  if (c.tlsClientCertAuth && c.tlsClientCa.empty()) {
    throw ConfigError("tls_client_cert_auth needs tls_client_ca");
  }
  if (!c.authFile.empty() && !c.authHelper.empty()) {
    throw ConfigError("auth_file and auth_helper exclude each other: choose one backend");
  }
  if (!c.groupFile.empty() && !c.groupHelper.empty()) {
    throw ConfigError("group_file and group_helper exclude each other: choose one");
  }
  if ((!c.groupFile.empty() || !c.groupHelper.empty()) && c.authFile.empty() &&
      c.authHelper.empty()) {
    throw ConfigError("group_file and group_helper need authentication (auth_file or auth_helper)");
  }
  if (c.listen.empty() && c.tlsListen.empty()) {
    throw ConfigError("nothing to listen on: set listen or tls_listen");
  }
  if (!c.adminListen.empty()) {
    std::string error;
    auto admin = parseListenAddress(c.adminListen, error);
    for (const auto& list : {c.listen, c.tlsListen}) {
      for (const std::string& l : list) {
        auto proxy = parseListenAddress(l, error);
        auto wildcard = [](const uv::SocketAddress& a) {
          std::string text = a.toString();
          return text.rfind("0.0.0.0:", 0) == 0 || text.rfind("[::]:", 0) == 0;
        };
        if (admin && proxy && admin->port() != 0 && admin->port() == proxy->port() &&
            (admin->toString() == proxy->toString() || wildcard(*admin) || wildcard(*proxy))) {
          throw ConfigError("admin_listen " + c.adminListen +
                            " is also a proxy listener: give the admin listener its own port");
        }
      }
    }
  }
  if (!c.adminAuthFile.empty() && c.adminListen.empty()) {
    throw ConfigError("admin_auth_file needs admin_listen");
  }
  for (size_t i = 0; i < c.parents.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (c.parents[i].name == c.parents[j].name) {
        throw ConfigError(c.parents[i].where.prefix() + "[[parent]] \"" + c.parents[i].name +
                          "\" is defined twice (first at line " +
                          std::to_string(c.parents[j].where.line) + ")");
      }
    }
  }
  if (!c.upstreamProxy.empty() && c.parent(c.upstreamProxy) == nullptr) {
    throw ConfigError("upstream_proxy: no [[parent]] named \"" + c.upstreamProxy + "\"");
  }
  for (size_t i = 0; i < c.rules.size(); ++i) {
    const RuleSpec& rule = c.rules[i];
    for (size_t j = 0; j < i; ++j) {
      if (rule.name == c.rules[j].name) {
        throw ConfigError(rule.where.prefix() + "[[rule]] \"" + rule.name +
                          "\" is defined twice (first at line " +
                          std::to_string(c.rules[j].where.line) + ")");
      }
    }
    if (!rule.via.empty() && rule.via != "direct" && c.parent(rule.via) == nullptr) {
      throw ConfigError(rule.viaWhere.prefix() + "via: no [[parent]] named \"" + rule.via +
                        "\" (or use \"direct\")");
    }
  }
}

unsigned Config::effectiveWorkers() const {
  if (workers != 0) {
    return workers;
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

std::string defaultPseudonym(const Config& config) {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) {
    std::snprintf(host, sizeof host, "gatehouse");
  }
  std::string name;
  for (const char* p = host; *p && *p != '.'; ++p) {
    name.push_back(isTokenChar(*p) ? *p : '-');
  }
  auto addresses = config.listenAddresses();
  if (!addresses.empty()) {
    name += ":" + std::to_string(addresses.front().port());
  }
  return name;
}

} // namespace gatehouse::config
