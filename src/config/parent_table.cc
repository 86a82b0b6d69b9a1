// [[parent]] tables read into ParentSpecs: the url, its percent-encoded credentials or a
// credentials_file. Credentials end up only in Secrets; errors never quote them.

#include "parent_table.h"

#include <cctype>
#include <fstream>

#include "gatehouse/http/message.h"
#include "text_values.h"
#include "toml_values.h"

namespace gatehouse::config {

namespace {

// Percent-decodes URL userinfo; false on a bad escape.
bool percentDecode(std::string_view in, std::string& out) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    int hi = http::hexDigitValue(in[i + 1]);
    int lo = http::hexDigitValue(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Splits "user:password" into the parent's secrets; false if there is no colon.
// `userinfo` is "user:password", split at the first colon; percent-encoded in a URL, taken as
// it is from a credentials file (a password with a literal % must work there).
bool setCredentials(std::string_view userinfo, bool percentEncoded, ParentSpec& parent) {
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string user;
  std::string password;
  bool ok = true;
  if (percentEncoded) {
    ok = percentDecode(userinfo.substr(0, colon), user) &&
         percentDecode(userinfo.substr(colon + 1), password);
  } else {
    user = userinfo.substr(0, colon);
    password = userinfo.substr(colon + 1);
  }
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
    if (!setCredentials(rest.substr(0, at), /*percentEncoded=*/true, parent)) {
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
    found = setCredentials(line, /*percentEncoded=*/false, parent);
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

} // namespace

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

} // namespace gatehouse::config
