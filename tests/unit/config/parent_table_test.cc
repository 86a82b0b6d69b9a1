// [[parent]] tables (src/config/parent_table.cc) through the loader: the url with its
// percent-encoded credentials, credentials_file next to the configuration file, and errors
// that name file and line but never quote the url.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "config_loading.h"
#include "gatehouse/config/config.h"

using namespace gatehouse::config;
using namespace gatehouse::config::testing;

namespace {

// A [[parent]] "p" on line 1 with its url on line 3.
std::string parentWithUrl(const std::string& url) {
  return "[[parent]]\nname = \"p\"\nurl = \"" + url + "\"\n";
}

// A directory of its own under /tmp, removed at the end of the test.
struct TempDir {
  std::string path = "/tmp/gatehouse-parent-table-" + std::to_string(::getpid());
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& file, const std::string& content) const {
    std::string full = path + "/" + file;
    std::ofstream(full, std::ios::binary) << content;
    return full;
  }
};

} // namespace

TEST_CASE("parent urls in a config file give host and port - names, IPv4, bracketed IPv6",
          "[config]") {
  Config c = load("\n[[parent]]\nname = \"corp\"\nurl = \"http://proxy.corp.example:3128\"\n");
  REQUIRE(c.parents.size() == 1);
  const ParentSpec& p = c.parents[0];
  CHECK(p.name == "corp");
  CHECK(p.host == "proxy.corp.example");
  CHECK(p.port == 3128);
  CHECK_FALSE(p.hasCredentials());
  CHECK(p.credentialsFile.empty());
  CHECK(p.where.file == "test.toml");
  CHECK(p.where.line == 2);

  CHECK(load(parentWithUrl("http://10.0.0.1:8080/")).parents[0].host == "10.0.0.1");
  CHECK(load(parentWithUrl("http://10.0.0.1:8080/")).parents[0].port == 8080);
  CHECK(load(parentWithUrl("http://[2001:db8::1]:3128")).parents[0].host == "2001:db8::1");
  CHECK(load(parentWithUrl("http://my_proxy-1:1")).parents[0].port == 1);
  CHECK(load(parentWithUrl("http://h:65535")).parents[0].port == 65535);
}

TEST_CASE("parent url credentials in a config file are percent-decoded into secrets", "[config]") {
  const ParentSpec p = load(parentWithUrl("http://alice:s3cret@h:1")).parents[0];
  CHECK(p.hasCredentials());
  CHECK(p.user.reveal() == "alice");
  CHECK(p.password.equals("s3cret"));
  CHECK(p.host == "h");

  // Upper- and lower-case escapes, in both halves.
  const ParentSpec e = load(parentWithUrl("http://a%3Ab%40c:p%25w%2fd@h:1")).parents[0];
  CHECK(e.user.reveal() == "a:b@c");
  CHECK(e.password.reveal() == "p%w/d");

  // The first colon separates user and password; the last @ ends the credentials.
  const ParentSpec raw = load(parentWithUrl("http://u:a:b@c@h:1")).parents[0];
  CHECK(raw.user.reveal() == "u");
  CHECK(raw.password.reveal() == "a:b@c");
  CHECK(raw.host == "h");
}

TEST_CASE("bad parent urls are config errors with file and line and without the password",
          "[config]") {
  struct Case {
    const char* url;
    const char* error;
  };
  for (const Case& t : std::initializer_list<Case>{
           {"https://u:pw-xyz@h:1", "url: expected http://[user:password@]host:port"},
           {"proxy:3128", "url: expected http://[user:password@]host:port"},
           {"http://pw-xyz@h:1", "url: credentials must be user:password (percent-encoded)"},
           {"http://:pw-xyz@h:1", "url: credentials must be user:password (percent-encoded)"},
           {"http://u:pw-xyz%4@h:1", "url: credentials must be user:password (percent-encoded)"},
           {"http://u:pw-xyz%g1@h:1", "url: credentials must be user:password (percent-encoded)"},
           {"http://u:pw-xyz@h", "url: the port is required (http://host:port)"},
           {"http://u:pw-xyz@[::1]", "url: expected [IPv6]:port"},
           {"http://u:pw-xyz@h:0", "url: invalid host or port"},
           {"http://u:pw-xyz@h:65536", "url: invalid host or port"},
           {"http://u:pw-xyz@h:http", "url: invalid host or port"},
           {"http://u:pw-xyz@:3128", "url: invalid host or port"},
           {"http://u:pw-xyz@h/x:3128", "url: invalid host or port"},
           {"http://u:pw-xyz@h:3128/path", "url: invalid host or port"},
       }) {
    INFO(t.url);
    std::string error = loadError("\n" + parentWithUrl(t.url));
    CHECK(error == std::string("test.toml:4: ") + t.error);
    CHECK(error.find("pw-xyz") == std::string::npos);
  }
  CHECK(loadError("[[parent]]\nname = \"p\"\nurl = 3128\n") ==
        "test.toml:3: url: expected a string");
}

TEST_CASE("a parent table in a config file needs a name and a url and knows only its own keys",
          "[config]") {
  CHECK(loadError("\n[[parent]]\nurl = \"http://h:1\"\n") ==
        "test.toml:2: [[parent]] needs a name");
  CHECK(loadError("[[parent]]\nname = \"p\"\n") == "test.toml:1: [[parent]] \"p\" needs a url");
  CHECK(loadError("[[parent]]\nname = \"direct\"\nurl = \"http://h:1\"\n") ==
        "test.toml:1: [[parent]] cannot be called \"direct\"");
  CHECK(loadError("[[parent]]\nname = \"a b\"\nurl = \"http://h:1\"\n") ==
        "test.toml:2: name: \"a b\" is not a name (letters, digits and -._ only)");
  CHECK(loadError("[[parent]]\nname = \"" + std::string(101, 'a') + "\"\n") ==
        "test.toml:2: name: expected a name (1-100 characters)");
  CHECK(loadError(parentWithUrl("http://h:1") + "port = 3128\n") ==
        "test.toml:4: unknown key \"port\" in [[parent]]");
  CHECK(loadError("parent = \"corp\"\n") == "test.toml:1: parent: use [[parent]] tables");

  // Two parents of one name: found by validate, which names both lines.
  Config c = load(parentWithUrl("http://h:1") + parentWithUrl("http://h:2"));
  CHECK(c.parents.size() == 2);
  CHECK_THROWS_WITH(validate(c),
                    "test.toml:4: [[parent]] \"p\" is defined twice (first at line 1)");
}

TEST_CASE("credentials_file is read next to the config file", "[config]") {
  TempDir dir;
  const std::string conf = dir.path + "/gatehouse.toml";
  dir.write("parent.credentials", "# the parent's login\r\n\r\nbob:hunter2\r\nignored:line\n");
  Config c =
      load(parentWithUrl("http://h:1") + "credentials_file = \"parent.credentials\"\n", conf);
  const ParentSpec& p = c.parents.at(0);
  CHECK(p.credentialsFile == dir.path + "/parent.credentials");
  CHECK(p.user.reveal() == "bob");
  CHECK(p.password.reveal() == "hunter2"); // the CR of a CRLF line is not part of it

  // The line is taken as it is: no percent-decoding (that is for credentials in a url).
  std::string literal = dir.write("literal.credentials", "dave:50%off:%41\n");
  Config l = load(parentWithUrl("http://h:1") + "credentials_file = \"" + literal + "\"\n");
  CHECK(l.parents.at(0).user.reveal() == "dave");
  CHECK(l.parents.at(0).password.reveal() == "50%off:%41");

  // An absolute name is taken as it is.
  std::string absolute = dir.write("abs.credentials", "carol:pw\n");
  Config a = load(parentWithUrl("http://h:1") + "credentials_file = \"" + absolute + "\"\n");
  CHECK(a.parents.at(0).credentialsFile == absolute);
  CHECK(a.parents.at(0).user.reveal() == "carol");

  std::string missing = dir.path + "/missing";
  CHECK(loadError("\n" + parentWithUrl("http://h:1") + "credentials_file = \"missing\"\n", conf) ==
        conf + ":2: credentials_file: cannot read " + missing);
  std::string empty = dir.write("empty.credentials", "# nothing yet\n\n");
  CHECK(loadError(parentWithUrl("http://h:1") + "credentials_file = \"" + empty + "\"\n") ==
        empty + ": no user:password line");
  std::string bad = dir.write("bad.credentials", "# login\nbob-without-password\n");
  CHECK(loadError(parentWithUrl("http://h:1") + "credentials_file = \"" + bad + "\"\n") ==
        bad + ":2: expected user:password");
  CHECK(loadError(parentWithUrl("http://h:1") + "credentials_file = \"\"\n") ==
        "test.toml:4: credentials_file: expected a file name");
  // Credentials in the url and a file: refused at the url, before the file is read.
  CHECK(loadError(parentWithUrl("http://u:pw-xyz@h:1") + "credentials_file = \"missing\"\n") ==
        "test.toml:3: url: credentials in both the url and credentials_file");
}
