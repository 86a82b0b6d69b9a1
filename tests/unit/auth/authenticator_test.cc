// The authenticator on a real loop: the review's defects (control characters, what reaches a
// log, keyed cache, dummy cost, throttling in flight / per user / bounded / before the cache,
// a bounded hash queue), the helper backend, merged lookups and cancellation, and groups.

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <openssl/evp.h>
#include <vector>

#include "gatehouse/auth/authenticator.h"
#include "gatehouse/uv/loop.h"
#include "helper_fixture.h"

using namespace gatehouse;
using namespace gatehouse::auth;
using gatehouse::test::ScriptDir;
using gatehouse::test::Watchdog;

namespace {

constexpr const char* kShaPass = "{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68="; // "pa:ss"
constexpr const char* kBcryptPass = "$2y$05$S8wqPBZzqxejeAEi7aP5ZezKKu8mShpGi43x.wbEoDRhSNrNsdwhG";

std::string basic(const std::string& userPass) {
  return "Basic " + encodeBase64(userPass);
}

// A loop, a store and an authenticator; check() collects decisions, run() waits for them.
struct Rig {
  ScriptDir dir;
  std::unique_ptr<uv::Loop> loop = std::make_unique<uv::Loop>();
  std::unique_ptr<AuthStore> store;
  std::unique_ptr<Authenticator> auth;
  std::vector<AuthDecision> decisions; // in the order they arrived
  std::vector<PendingCheck> pending;
  size_t outstanding = 0;

  explicit Rig(const std::string& users, AuthOptions options = {}) {
    std::signal(SIGPIPE, SIG_IGN);
    if (options.helperArgv.empty()) {
      options.path = dir.file("users", users);
    }
    store = std::make_unique<AuthStore>(options);
    auth = std::make_unique<Authenticator>(*loop, *store);
  }
  // Starts a check; a decision made at once is recorded at once.
  void check(const std::string& header, const std::string& address = "192.0.2.1") {
    PendingCheck handle;
    auto now = auth->check(
        address, header,
        [this](const AuthDecision& d) {
          decisions.push_back(d);
          if (--outstanding == 0) {
            finish();
          }
        },
        handle);
    if (now) {
      decisions.push_back(*now);
    } else {
      ++outstanding;
      pending.push_back(std::move(handle));
    }
  }
  // Runs the loop until every started check answered (10 s at most); with `closeHelpers`
  // the helpers stop then too (their processes would keep the loop running).
  void run(bool closeHelpers = false) {
    if (outstanding == 0) {
      return;
    }
    closeAfter = closeHelpers;
    dog = Watchdog::start(*loop, 10'000, [this] {
      dog = nullptr;
      auth->close();
      stop();
    });
    loop->run();
  }
  void finish() {
    if (dog != nullptr) {
      dog->stop();
      dog = nullptr;
    }
    if (closeAfter) {
      auth->close();
    }
    stop();
  }
  void stop() {
    if (!stopped) {
      stopped = true;
      loop->requestStop();
    }
  }
  size_t count(Refusal r) const {
    return static_cast<size_t>(std::count_if(decisions.begin(), decisions.end(),
                                             [r](const auto& d) { return d.refusal == r; }));
  }
  ~Rig() {
    auth->close();
    stop();
    loop->run(); // let closing helpers and timers finish
  }
  Watchdog* dog = nullptr;
  bool closeAfter = false;
  bool stopped = false;
};

} // namespace

TEST_CASE("defect 1: a NUL or control character in credentials is refused before any check") {
  Refusal refusal;
  std::string scheme;
  for (std::string bad : {std::string("alice:pa:ss\0x", 13), std::string("alice:pa\nss"),
                          std::string("al\x01ice:pa:ss"), std::string("alice:pa:ss\x7f")}) {
    INFO(bad);
    CHECK_FALSE(parseBasic(basic(bad), refusal, scheme));
    CHECK(refusal == Refusal::ControlCharacter);
  }
  CHECK(std::string(describe(Refusal::ControlCharacter)) == "control character in credentials");
  // Through the authenticator with a bcrypt user: crypt() would have stopped at the NUL.
  Rig rig(std::string("alice:") + kBcryptPass + "\n");
  rig.check(basic(std::string("alice:pa:ss\0x", 13)));
  rig.check(basic("alice:pa:ss"));
  rig.run();
  REQUIRE(rig.decisions.size() == 2);
  CHECK(rig.decisions[0].refusal == Refusal::ControlCharacter);
  CHECK(rig.decisions[1].allowed());
}

TEST_CASE("defect 2: only a plausible scheme name reaches the decision's log detail") {
  Refusal refusal;
  std::string scheme;
  const std::string blob = encodeBase64("alice:secret");
  CHECK_FALSE(parseBasic(blob, refusal, scheme)); // the scheme was forgotten
  CHECK(refusal == Refusal::UnsupportedScheme);
  CHECK(scheme.empty());
  CHECK_FALSE(parseBasic("Negotiate YIIB", refusal, scheme));
  CHECK(scheme == "Negotiate");
  CHECK_FALSE(parseBasic("x\"y z", refusal, scheme));
  CHECK(scheme.empty());
  Rig rig(std::string("alice:") + kShaPass + "\n");
  rig.check(blob);
  REQUIRE(rig.decisions.size() == 1);
  CHECK(rig.decisions[0].detail.find(blob.substr(0, 8)) == std::string::npos);
  CHECK(rig.decisions[0].user.empty());
}

TEST_CASE("defect 4: the cache key is an HMAC, not a plain hash of user and password") {
  Rig rig(std::string("alice:") + kShaPass + "\n");
  std::string key = rig.auth->credentialKey("alice", "pa:ss");
  unsigned char sha[32];
  unsigned len = 0;
  std::string input("alice\0pa:ss", 11);
  EVP_Digest(input.data(), input.size(), sha, &len, EVP_sha256(), nullptr);
  CHECK(key.size() == 32);
  CHECK(key != std::string(reinterpret_cast<char*>(sha), len));
  CHECK(key == rig.auth->credentialKey("alice", "pa:ss"));
  CHECK(key != rig.auth->credentialKey("alice", "pa:sS"));
  CHECK(rig.auth->credentialKey("a", "b:c") != rig.auth->credentialKey("a:b", "c"));
}

TEST_CASE("defect 5: an unknown user costs what the file's usual entry costs") {
  std::vector<std::string> warnings;
  auto table = parseUserFile("a:$2y$12$abcdefghijklmnopqrstuu5sZ6nKZ2sL2w1bS1ZrI0V5tq1NNKh1u\n"
                             "b:$2y$12$abcdefghijklmnopqrstuu5sZ6nKZ2sL2w1bS1ZrI0V5tq1NNKh1u\n"
                             "c:$2y$05$abcdefghijklmnopqrstuu5sZ6nKZ2sL2w1bS1ZrI0V5tq1NNKh1u\n",
                             "u", false, warnings);
  CHECK(table->dummy.format == HashFormat::Bcrypt);
  CHECK(table->dummy.hash.rfind("$2y$12$", 0) == 0);
  table =
      parseUserFile(std::string("a:") + kShaPass + "\nb:" + kShaPass + "\nc:" + kBcryptPass + "\n",
                    "u", false, warnings);
  CHECK(table->dummy.format == HashFormat::Sha1);
  table = parseUserFile("a:$6$rounds=9000$saltsalt$x\n", "u", false, warnings);
  CHECK(table->dummy.hash.rfind("$6$rounds=9000$", 0) == 0);
  // A {SHA} file: known and unknown users are both answered on the spot (no thread pool for
  // one and not the other).
  Rig rig(std::string("alice:") + kShaPass + "\nbob:" + kShaPass + "\n");
  rig.check(basic("alice:wrong"));
  rig.check(basic("nobody:wrong"));
  REQUIRE(rig.decisions.size() == 2);
  CHECK(rig.decisions[0].refusal == Refusal::WrongPassword);
  CHECK(rig.decisions[1].refusal == Refusal::UnknownUser);
}

TEST_CASE("defect 6: checks in flight count against the budget (no extra parallel guesses)") {
  AuthOptions options;
  options.maxFailures = 3;
  Rig rig(std::string("alice:") + kBcryptPass + "\n", options);
  for (int i = 0; i < 10; ++i) {
    rig.check(basic("alice:guess" + std::to_string(i)));
  }
  rig.run();
  REQUIRE(rig.decisions.size() == 10);
  CHECK(rig.count(Refusal::WrongPassword) == 3);
  CHECK(rig.count(Refusal::Throttled) == 7);
}

TEST_CASE("defect 6: one user's lockout does not block other users behind the same address") {
  AuthOptions options;
  options.maxFailures = 3;
  Rig rig(std::string("alice:") + kShaPass + "\nbob:" + kShaPass + "\n", options);
  for (int i = 0; i < 4; ++i) {
    rig.check(basic("alice:guess"), "198.51.100.7");
  }
  rig.check(basic("bob:pa:ss"), "198.51.100.7");
  rig.check(basic("alice:pa:ss"), "198.51.100.8"); // alice from elsewhere
  REQUIRE(rig.decisions.size() == 6);
  CHECK(rig.decisions[3].refusal == Refusal::Throttled);
  CHECK(rig.decisions[4].allowed());
  CHECK(rig.decisions[5].allowed());
}

TEST_CASE("defect 6: the failure table is bounded by evicting the least recent, not clearing") {
  AuthOptions options;
  options.maxFailures = 2;
  options.throttleEntries = 4;
  Rig rig(std::string("alice:") + kShaPass + "\n", options);
  for (int i = 0; i < 4; ++i) {
    rig.check(basic("alice:x"), "203.0.113." + std::to_string(i)); // fills the table
  }
  rig.check(basic("alice:x"), "198.51.100.1");
  rig.check(basic("alice:y"), "198.51.100.1"); // this address is now over budget
  rig.check(basic("alice:z"), "203.0.113.99"); // one more entry: evicts the oldest only
  rig.check(basic("alice:pa:ss"), "198.51.100.1");
  CHECK(rig.store->throttleEntries() == 4);
  CHECK(rig.decisions.back().refusal == Refusal::Throttled);
}

TEST_CASE("defect 6: the hash queue is bounded - overflow is a distinct busy refusal") {
  AuthOptions options;
  options.maxSlowChecks = 2;
  options.maxFailures = 100;
  Rig rig(std::string("alice:") + kBcryptPass + "\n", options);
  for (int i = 0; i < 5; ++i) {
    rig.check(basic("alice:guess" + std::to_string(i)));
  }
  rig.run();
  CHECK(rig.count(Refusal::BackendBusy) == 3);
  CHECK(rig.count(Refusal::WrongPassword) == 2);
  CHECK(backendTrouble(Refusal::BackendBusy));
  for (const auto& d : rig.decisions) {
    if (d.refusal == Refusal::BackendBusy) {
      CHECK(d.retryAfterSeconds >= 1);
    }
  }
}

TEST_CASE("defect 7: while throttled, a cached right password gets the same refusal") {
  AuthOptions options;
  options.maxFailures = 3;
  Rig rig(std::string("alice:") + kShaPass + "\n", options);
  rig.check(basic("alice:pa:ss")); // now in the success cache
  for (int i = 0; i < 3; ++i) {
    rig.check(basic("alice:wrong" + std::to_string(i)));
  }
  rig.check(basic("alice:pa:ss"));
  rig.check(basic("alice:wrong9"));
  REQUIRE(rig.decisions.size() == 6);
  CHECK(rig.decisions[0].allowed());
  CHECK(rig.decisions[4].refusal == Refusal::Throttled);
  CHECK(rig.decisions[5].refusal == Refusal::Throttled);
  CHECK(rig.decisions[4].retryAfterSeconds == rig.decisions[5].retryAfterSeconds);
}

TEST_CASE("identical checks in flight share one hash computation") {
  AuthOptions options;
  options.maxSlowChecks = 1; // a second job would be refused as busy
  Rig rig(std::string("alice:") + kBcryptPass + "\n", options);
  for (int i = 0; i < 4; ++i) {
    rig.check(basic("alice:pa:ss"), "192.0.2." + std::to_string(i % 2));
  }
  rig.run();
  REQUIRE(rig.decisions.size() == 4);
  for (const auto& d : rig.decisions) {
    CHECK(d.allowed());
  }
}

TEST_CASE("a cancelled check is never called back") {
  Rig rig(std::string("alice:") + kBcryptPass + "\n");
  rig.check(basic("alice:pa:ss"));
  rig.check(basic("alice:other"));
  rig.pending.front().reset(); // the first connection went away
  rig.outstanding = 1;
  rig.run();
  REQUIRE(rig.decisions.size() == 1);
  CHECK(rig.decisions[0].refusal == Refusal::WrongPassword);
}

namespace {

// A basic auth helper that logs every request it gets to `calls` (to count lookups).
std::string countingHelper(const ScriptDir& dir) {
  return dir.script("basic.sh", "while read user pass; do\n  echo \"$user\" >> " + dir.path() +
                                    "/calls\n  case \"$user\" in\n"
                                    "    crash) exit 1 ;;\n"
                                    "    bh) echo \"BH message=directory%20down\" ;;\n"
                                    "    *) if [ \"$pass\" = \"pa%3Ass\" ]; then echo "
                                    "\"OK user=$user\"; else echo \"ERR message=nope\"; fi ;;\n"
                                    "  esac\ndone\n");
}

size_t lines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string l; std::getline(in, l);) {
    ++n;
  }
  return n;
}

} // namespace

TEST_CASE("helper backend: OK is cached, ERR is cached briefly, BH is a 407-style refusal") {
  AuthOptions options;
  ScriptDir helperDir;
  options.helperArgv = {countingHelper(helperDir)};
  options.helperChildren = 2;
  Rig rig("", options);
  for (int i = 0; i < 3; ++i) {
    rig.check(basic("alice:pa:ss")); // merged into one lookup
  }
  rig.check(basic("alice:wrong"));
  rig.check(basic("bh:x"));
  rig.run(true);
  REQUIRE(rig.decisions.size() == 5);
  CHECK(rig.count(Refusal::None) == 3);
  CHECK(rig.count(Refusal::WrongPassword) == 1);
  CHECK(rig.count(Refusal::HelperFailure) == 1);
  CHECK_FALSE(backendTrouble(Refusal::HelperFailure));
  // Both answers are remembered: decided at once, without asking the helper again.
  rig.check(basic("alice:pa:ss"));
  rig.check(basic("alice:wrong"));
  REQUIRE(rig.decisions.size() == 7);
  CHECK(rig.decisions[5].allowed());
  CHECK(rig.decisions[5].user == "alice");
  CHECK(rig.decisions[6].refusal == Refusal::WrongPassword);
  CHECK(lines(helperDir.path() + "/calls") == 3);
}

TEST_CASE("helper backend: a dead helper is a 503-style refusal, never a hang") {
  AuthOptions options;
  ScriptDir helperDir;
  options.helperArgv = {countingHelper(helperDir)};
  options.helperChildren = 1;
  Rig rig("", options);
  rig.check(basic("crash:x"));
  rig.run(true);
  REQUIRE(rig.decisions.size() == 1);
  CHECK(rig.decisions[0].refusal == Refusal::BackendUnavailable);
  CHECK(backendTrouble(Refusal::BackendUnavailable));
  CHECK(rig.decisions[0].detail.find("auth helper") != std::string::npos);
}

TEST_CASE("groups from an htgroup file") {
  std::vector<std::string> warnings;
  auto groups = parseGroupFile("# staff\nstaff: alice bob\n\nadmins:alice\nbroken line\n"
                               "staff: carol\n",
                               "groups", warnings);
  CHECK(groups["staff"] == std::vector<std::string>{"alice", "bob", "carol"});
  CHECK(groups["admins"] == std::vector<std::string>{"alice"});
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].rfind("groups:5: ", 0) == 0);

  ScriptDir dir;
  AuthOptions options;
  options.groupFile = dir.file("groups", "staff: alice bob\n");
  Rig rig(std::string("alice:") + kShaPass + "\n", options);
  REQUIRE(rig.auth->groups() != nullptr);
  PendingCheck pending;
  CHECK(rig.auth->groups()->isMember("alice", "staff", nullptr, pending) == GroupAnswer::Member);
  CHECK(rig.auth->groups()->isMember("carol", "staff", nullptr, pending) == GroupAnswer::NotMember);
  CHECK(rig.auth->groups()->isMember("alice", "nogroup", nullptr, pending) ==
        GroupAnswer::NotMember);
}

TEST_CASE("groups from an external ACL helper: cached both ways, BH never cached") {
  ScriptDir dir;
  AuthOptions options;
  options.path = dir.file("users", std::string("alice:") + kShaPass + "\n");
  options.groupHelperArgv = {
      dir.script("group.sh", "while read user group; do\n  echo \"$user $group\" >> " + dir.path() +
                                 "/calls\n  case \"$group\" in\n    staff) echo OK ;;\n"
                                 "    flaky) echo BH ;;\n    *) echo ERR ;;\n  esac\ndone\n")};
  uv::Loop loop;
  AuthStore store(options);
  Authenticator auth(loop, store);
  GroupResolver& groups = *auth.groups();
  std::vector<GroupAnswer> answers;
  std::vector<PendingCheck> pending(6);
  size_t outstanding = 0;
  auto ask = [&](const char* user, const char* group, size_t slot) {
    auto now = groups.isMember(
        user, group,
        [&](GroupAnswer a) {
          answers.push_back(a);
          if (--outstanding == 0) {
            auth.close();
            loop.requestStop();
          }
        },
        pending[slot]);
    if (now) {
      answers.push_back(*now);
    } else {
      ++outstanding;
    }
  };
  ask("alice", "staff", 0);
  ask("alice", "staff", 1); // merged
  ask("alice", "other", 2);
  ask("alice", "flaky", 3);
  loop.run();
  REQUIRE(answers.size() == 4);
  CHECK(std::count(answers.begin(), answers.end(), GroupAnswer::Member) == 2);
  CHECK(std::count(answers.begin(), answers.end(), GroupAnswer::NotMember) == 1);
  CHECK(std::count(answers.begin(), answers.end(), GroupAnswer::Unavailable) == 1);
  // Member and non-member answers are cached; asked again at once.
  answers.clear();
  ask("alice", "staff", 4);
  ask("alice", "other", 5);
  CHECK(answers == std::vector<GroupAnswer>{GroupAnswer::Member, GroupAnswer::NotMember});
  CHECK(lines(dir.path() + "/calls") == 3);
}
