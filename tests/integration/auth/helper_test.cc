// Authentication through Squid helpers with the proxy running: Debian's real basic_ncsa_auth,
// helpers that crash, hang, answer garbage or BH (small scripts), and basic_ldap_auth plus
// ext_ldap_group_acl against a real slapd started here on a loopback port.

#include <algorithm>
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "../support/fake_upstream.h"
#include "../support/proxy_harness.h"
#include "gatehouse/auth/authenticator.h"
#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/uv/loop.h"

using namespace gatehouse::test;
using gatehouse::auth::encodeBase64;

namespace {

class TempDir {
public:
  TempDir() {
    std::signal(SIGPIPE, SIG_IGN); // as the proxy's main does: a dead helper's pipe
    char dir[] = "/tmp/gatehouse-helpers-XXXXXX";
    dir_ = ::mkdtemp(dir);
    ::chmod(dir_.c_str(), 0755);
  }
  ~TempDir() { runCommand("rm -rf " + dir_); }
  std::string file(const std::string& name, const std::string& text) const {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string script(const std::string& name, const std::string& body) const {
    std::string path = file(name, "#!/bin/sh\n" + body);
    ::chmod(path.c_str(), 0755);
    return path;
  }
  const std::string& path() const { return dir_; }

private:
  std::string dir_;
};

std::string basic(const std::string& userPass) {
  return "Proxy-Authorization: Basic " + encodeBase64(userPass) + "\r\n";
}

std::string getVia(const FakeUpstream& upstream, const std::string& extra = "") {
  return "GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

gatehouse::config::Config helperConfig(std::vector<std::string> argv) {
  auto config = testConfig();
  config.authHelper = std::move(argv);
  config.authMaxFailures = 50;
  config.authHelperTimeoutMs = 500;
  config.authHelperChildren = 2;
  return config;
}

// A helper for the failure cases: user "crash" exits, "hang" never answers, "garbage"
// answers nonsense, "bh" answers BH; anyone else with password "good" is accepted.
const char* kMisbehaving = R"(while read user pass; do
  case "$user" in
    crash) exit 7 ;;
    hang) exec sleep 60 ;;
    garbage) echo "Welcome to helper 2.0" ;;
    bh) echo "BH message=directory%20unreachable" ;;
    *) if [ "$pass" = good ]; then echo OK; else echo ERR; fi ;;
  esac
done
)";

} // namespace

TEST_CASE("Debian's basic_ncsa_auth checks users of an htpasswd file") {
  const std::string program = "/usr/lib/squid/basic_ncsa_auth";
  REQUIRE(::access(program.c_str(), X_OK) == 0); // installed by tools/setup.sh --tests
  TempDir dir;
  const std::string users = dir.path() + "/users";
  int rc = -1;
  runCommand("htpasswd -cbB " + users + " alice 'pa ss:%x' 2>&1", &rc);
  REQUIRE(rc == 0);
  runCommand("htpasswd -b " + users + " bob secret 2>&1", &rc);
  REQUIRE(rc == 0);
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy(helperConfig({program, users}));
  Socket client = proxy.connect();
  // Spaces and '%' in a password survive the %-escaping on the way to the helper.
  client.sendAll(getVia(upstream, basic("alice:pa ss:%x")));
  CHECK(readResponse(client).status == 200);
  CHECK_FALSE(proxy.waitForLog({"access", "user=\"alice\"", "status=200"}).empty());
  client.sendAll(getVia(upstream, basic("bob:wrong")));
  Response wrong = readResponse(client);
  CHECK(wrong.status == 407);
  CHECK(wrong.hasHeader("proxy-authenticate"));
  CHECK_FALSE(proxy.waitForLog({"auth_required", "wrong password", "helper ERR"}).empty());
  Socket other = proxy.connect();
  other.sendAll(getVia(upstream, basic("bob:secret")));
  CHECK(readResponse(other).status == 200);
  other.sendAll(getVia(upstream, basic("nobody:x")));
  CHECK(readResponse(other).status == 407);
  for (const std::string& line : LogCapture::instance().linesSince(proxy.logMark())) {
    CHECK(line.find("pa ss") == std::string::npos);
    CHECK(line.find("secret") == std::string::npos);
  }
}

TEST_CASE("a crashing helper: 503 with Proxy-Status, a log line, and the proxy serves on") {
  TempDir dir;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy(helperConfig({dir.script("helper.sh", kMisbehaving)}));
  Socket client = proxy.connect();
  client.sendAll(getVia(upstream, basic("crash:x")));
  Response r = readResponse(client);
  CHECK(r.status == 503);
  CHECK(r.header("proxy-status").find("error=proxy_internal_error") != std::string::npos);
  CHECK(r.header("proxy-status").find("details=\"auth helper") != std::string::npos);
  CHECK(r.hasHeader("retry-after"));
  CHECK_FALSE(proxy.waitForLog({"auth helper", "exited with status 7", "restarting"}).empty());
  CHECK_FALSE(proxy.waitForLog({"auth_backend_unavailable", "phase=auth"}).empty());
  client.sendAll(getVia(upstream, basic("alice:good"))); // same connection, another child
  CHECK(readResponse(client).status == 200);
}

TEST_CASE("a hanging helper: 503 after the timeout, the helper killed, the proxy serves on") {
  TempDir dir;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy(helperConfig({dir.script("helper.sh", kMisbehaving)}));
  Socket client = proxy.connect();
  client.sendAll(getVia(upstream, basic("hang:x")));
  Response r = readResponse(client);
  CHECK(r.status == 503);
  CHECK(r.header("proxy-status").find("auth helper timed out") != std::string::npos);
  CHECK_FALSE(proxy.waitForLog({"auth helper", "gave no reply within 500 ms"}).empty());
  Socket next = proxy.connect();
  next.sendAll(getVia(upstream, basic("alice:good")));
  CHECK(readResponse(next).status == 200);
}

TEST_CASE("a helper answering garbage: 503 and a log line that does not echo it") {
  TempDir dir;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy(helperConfig({dir.script("helper.sh", kMisbehaving)}));
  Socket client = proxy.connect();
  client.sendAll(getVia(upstream, basic("garbage:x")));
  CHECK(readResponse(client).status == 503);
  CHECK_FALSE(proxy.waitForLog({"auth helper", "answered garbage"}).empty());
  for (const std::string& line : LogCapture::instance().linesSince(proxy.logMark())) {
    CHECK(line.find("Welcome") == std::string::npos);
  }
  client.sendAll(getVia(upstream, basic("alice:good")));
  CHECK(readResponse(client).status == 200);
}

TEST_CASE("a helper answering BH: that attempt gets 407, logged as a helper failure") {
  TempDir dir;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  ProxyHarness proxy(helperConfig({dir.script("helper.sh", kMisbehaving)}));
  Socket client = proxy.connect();
  client.sendAll(getVia(upstream, basic("bh:x")));
  Response r = readResponse(client);
  CHECK(r.status == 407);
  CHECK(r.hasHeader("proxy-authenticate"));
  CHECK_FALSE(
      proxy.waitForLog({"warn", "auth helper could not decide", "directory unreachable"}).empty());
  CHECK_FALSE(proxy.waitForLog({"auth_required", "auth helper failure"}).empty());
}

TEST_CASE("a full helper queue answers 503 at once instead of waiting") {
  TempDir dir;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = helperConfig({dir.script("helper.sh", kMisbehaving)});
  config.authHelperChildren = 1;
  config.authHelperQueue = 1;
  config.authHelperTimeoutMs = 3000;
  ProxyHarness proxy(config);
  Socket first = proxy.connect();
  first.sendAll(getVia(upstream, basic("hang:1"))); // occupies the only child
  REQUIRE_FALSE(proxy.waitForLog({"auth helper", "started"}).empty());
  Socket second = proxy.connect();
  second.sendAll(getVia(upstream, basic("hang:2"))); // waits in the queue
  Socket third = proxy.connect();
  auto started = std::chrono::steady_clock::now();
  third.sendAll(getVia(upstream, basic("hang:3")));
  Response r = readResponse(third);
  CHECK(r.status == 503);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(2000));
  CHECK(r.header("proxy-status").find("auth helper queue full") != std::string::npos);
}

namespace {

// A throw-away OpenLDAP server: slapd.conf and an mdb database in a temp dir, on a loopback
// port picked free now, loaded with people (alice, bob) and a group (staff: alice). Killed and
// reaped when the test ends.
class Slapd {
public:
  static constexpr const char* kSuffix = "dc=example,dc=test";

  Slapd() {
    REQUIRE(::access("/usr/sbin/slapd", X_OK) == 0); // tools/setup.sh --tests installs it
    ::mkdir((dir_.path() + "/db").c_str(), 0700);
    const std::string conf = dir_.file("slapd.conf", R"(include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "dc=example,dc=test"
rootdn "cn=admin,dc=example,dc=test"
rootpw adminsecret
directory )" + dir_.path() + R"(/db
access to attrs=userPassword by anonymous auth by * none
access to * by * read
)");
    port_ = freePort();
    url_ = "ldap://127.0.0.1:" + std::to_string(port_);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // -d 0: stay in the foreground as our child, so the test can stop and reap it.
      std::string log = dir_.path() + "/slapd.log";
      freopen(log.c_str(), "w", stderr);
      freopen(log.c_str(), "a", stdout);
      const std::string listen = url_ + "/";
      ::execl("/usr/sbin/slapd", "slapd", "-d", "0", "-h", listen.c_str(), "-f", conf.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when it answers a root DSE search (bounded: 10 s).
    bool ready = false;
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         !ready && std::chrono::steady_clock::now() < until;) {
      int rc = -1;
      runCommand("ldapsearch -x -H " + url_ + " -b '' -s base >/dev/null 2>&1", &rc);
      ready = rc == 0;
      if (!ready) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50)); // polling a child's start
      }
    }
    REQUIRE(ready);
    const std::string ldif = dir_.file("data.ldif", R"(dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
userPassword: wonder land

dn: uid=bob,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Builder
userPassword: canwefixit

dn: cn=staff,ou=groups,dc=example,dc=test
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,dc=example,dc=test
)");
    int rc = -1;
    runCommand("ldapadd -x -H " + url_ + " -D cn=admin," + kSuffix + " -w adminsecret -f " + ldif +
                   " 2>&1",
               &rc);
    REQUIRE(rc == 0);
  }
  ~Slapd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  const std::string& url() const { return url_; }

  // The same command lines as the README's example.
  std::vector<std::string> basicAuthHelper() const {
    return {"/usr/lib/squid/basic_ldap_auth",
            "-v",
            "3",
            "-b",
            "ou=people,dc=example,dc=test",
            "-f",
            "(uid=%s)",
            "-H",
            url_};
  }
  std::vector<std::string> groupHelper() const {
    return {"/usr/lib/squid/ext_ldap_group_acl",
            "-v",
            "3",
            "-b",
            "ou=groups,dc=example,dc=test",
            "-f",
            "(&(objectClass=groupOfNames)(cn=%g)(member=%u))",
            "-B",
            "ou=people,dc=example,dc=test",
            "-F",
            "(uid=%s)",
            "-H",
            url_};
  }

private:
  static uint16_t freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::string url_;
  pid_t pid_ = -1;
};

} // namespace

TEST_CASE("LDAP: basic_ldap_auth against a real slapd, through the proxy") {
  Slapd ldap;
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto config = helperConfig(ldap.basicAuthHelper());
  config.authHelperTimeoutMs = 5000;
  ProxyHarness proxy(config);
  Socket client = proxy.connect();
  client.sendAll(getVia(upstream, basic("alice:wonder land")));
  CHECK(readResponse(client).status == 200);
  CHECK_FALSE(proxy.waitForLog({"access", "user=\"alice\"", "status=200"}).empty());
  // basic_ldap_auth 5.x answers BH to a wrong password: a 407, never a 503.
  client.sendAll(getVia(upstream, basic("bob:wrong")));
  CHECK(readResponse(client).status == 407);
  client.sendAll(getVia(upstream, basic("nobody:x")));
  CHECK(readResponse(client).status == 407);
  Socket other = proxy.connect();
  other.sendAll(getVia(upstream, basic("bob:canwefixit")));
  CHECK(readResponse(other).status == 200);
}

TEST_CASE("LDAP: ext_ldap_group_acl answers group membership for the policy layer") {
  Slapd ldap;
  TempDir dir;
  gatehouse::auth::AuthOptions options;
  options.helperArgv = ldap.basicAuthHelper();
  options.groupHelperArgv = ldap.groupHelper();
  gatehouse::auth::AuthStore store(options);
  gatehouse::uv::Loop loop;
  gatehouse::auth::Authenticator auth(loop, store);
  auto* groups = auth.groups();
  REQUIRE(groups != nullptr);
  using gatehouse::auth::GroupAnswer;
  std::vector<std::pair<std::string, GroupAnswer>> answers;
  std::vector<gatehouse::auth::PendingCheck> pending(3);
  size_t outstanding = 0;
  auto ask = [&](const std::string& user, const std::string& group, size_t slot) {
    auto now = groups->isMember(
        user, group,
        [&, user, group](GroupAnswer a) {
          answers.emplace_back(user + "/" + group, a);
          if (--outstanding == 0) {
            auth.close();
            loop.requestStop();
          }
        },
        pending[slot]);
    REQUIRE_FALSE(now); // a helper answers later
    ++outstanding;
  };
  ask("alice", "staff", 0);
  ask("bob", "staff", 1);
  ask("alice", "admins", 2);
  loop.run();
  REQUIRE(answers.size() == 3);
  std::sort(answers.begin(), answers.end());
  CHECK(answers[0] == std::make_pair(std::string("alice/admins"), GroupAnswer::NotMember));
  CHECK(answers[1] == std::make_pair(std::string("alice/staff"), GroupAnswer::Member));
  CHECK(answers[2] == std::make_pair(std::string("bob/staff"), GroupAnswer::NotMember));
}
