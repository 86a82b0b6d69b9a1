#include "gatehouse/config/config.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <openssl/crypto.h>
#include <thread>
#include <toml++/toml.h>
#include <unistd.h>

#include "rule_table.h"
#include "text_values.h"
#include "toml_values.h"

namespace gatehouse::config {

namespace {

// Percent-decodes URL userinfo; false on a bad escape.
bool percentDecode(std::string_view in, std::string& out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    int hi = hex(in[i + 1]);
    int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Splits "user:password" into the parent's secrets; false if there is no colon.
bool setCredentials(std::string_view userinfo, ParentSpec& parent) {
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string user;
  std::string password;
  bool ok = percentDecode(userinfo.substr(0, colon), user) &&
            percentDecode(userinfo.substr(colon + 1), password);
  parent.user = Secret(user);
  parent.password = Secret(password);
  wipeString(user);
  wipeString(password);
  return ok;
}

// Parses "http://[user:pass@]host:port[/]". Errors never quote the URL: it may hold a password.
void parseParentUrl(const std::string& url, ParentSpec& parent, const std::string& label) {
  std::string_view rest(url);
  if (!rest.starts_with("http://")) {
    throw ConfigError(label + "url: expected http://[user:password@]host:port");
  }
  rest.remove_prefix(7);
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    if (!setCredentials(rest.substr(0, at), parent)) {
      throw ConfigError(label + "url: credentials must be user:password (percent-encoded)");
    }
    rest.remove_prefix(at + 1);
  }
  std::string_view host;
  std::string_view port;
  if (rest.starts_with("[")) {
    size_t close = rest.find("]:");
    if (close == std::string_view::npos) {
      throw ConfigError(label + "url: expected [IPv6]:port");
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      throw ConfigError(label + "url: the port is required (http://host:port)");
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  bool hostOk = !host.empty() && host.size() <= 253;
  for (char c : host) {
    hostOk = hostOk && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                        c == '_' || c == ':');
  }
  auto number = parseCount(std::string(port), 1, 65535);
  if (!hostOk || !number) {
    throw ConfigError(label + "url: invalid host or port");
  }
  parent.host = std::string(host);
  parent.port = static_cast<uint16_t>(*number);
}

// Reads "user:password" from the first line that is neither blank nor a comment.
void readCredentialsFile(ParentSpec& parent, const std::string& label) {
  std::ifstream in(parent.credentialsFile, std::ios::binary);
  if (!in) {
    throw ConfigError(label + "credentials_file: cannot read " + parent.credentialsFile);
  }
  std::string line;
  uint32_t number = 0;
  bool found = false;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    found = setCredentials(line, parent);
    wipeString(line);
    if (!found) {
      throw ConfigError(parent.credentialsFile + ":" + std::to_string(number) +
                        ": expected user:password");
    }
    break;
  }
  wipeString(line);
  if (!found) {
    throw ConfigError(parent.credentialsFile + ": no user:password line");
  }
}

ParentSpec parseParent(const toml::table& table, const std::string& name, const toml::node& at) {
  ParentSpec parent;
  parent.where = locate(name, at);
  const toml::node* url = nullptr;
  for (const auto& [keyName, node] : table) {
    const std::string key(keyName.str());
    if (key == "name") {
      parent.name = nameValue(node, name, key);
    } else if (key == "url") {
      if (!node.is_string()) {
        throw ConfigError(where(name, node) + "url: expected a string");
      }
      url = &node;
    } else if (key == "credentials_file") {
      auto s = node.as_string();
      if (s == nullptr || s->get().empty()) {
        throw ConfigError(where(name, node) + "credentials_file: expected a file name");
      }
      parent.credentialsFile = s->get().front() == '/' ? s->get() : directoryOf(name) + s->get();
    } else {
      throw ConfigError(where(name, node) + "unknown key \"" + key + "\" in [[parent]]");
    }
  }
  if (parent.name.empty()) {
    throw ConfigError(parent.where.prefix() + "[[parent]] needs a name");
  }
  if (parent.name == "direct") {
    throw ConfigError(parent.where.prefix() + "[[parent]] cannot be called \"direct\"");
  }
  if (url == nullptr) {
    throw ConfigError(parent.where.prefix() + "[[parent]] \"" + parent.name + "\" needs a url");
  }
  parseParentUrl(url->as_string()->get(), parent, where(name, *url));
  if (!parent.credentialsFile.empty()) {
    if (parent.hasCredentials()) {
      throw ConfigError(where(name, *url) +
                        "url: credentials in both the url and credentials_file");
    }
    readCredentialsFile(parent, parent.where.prefix());
  }
  return parent;
}

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

// Parent URLs may carry a password: overwrite them in the parsed tree before it is freed.
void wipeParentUrls(toml::table& table) {
  if (auto parents = table["parent"].as_array()) {
    for (auto& element : *parents) {
      if (auto t = element.as_table()) {
        if (auto url = (*t)["url"].as_string()) {
          wipeString(url->get());
        }
      }
    }
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
