// The helper pool against small scripted helpers: lazy start, replies matched by order and by
// channel ID, and every way a helper fails (crash, hang, garbage, missing program, full queue).

#include <catch2/catch.hpp>
#include <csignal>
#include <vector>

#include "gatehouse/auth/helper_pool.h"
#include "gatehouse/uv/loop.h"
#include "helper_fixture.h"

using namespace gatehouse;
using namespace gatehouse::auth;
using gatehouse::test::ScriptDir;
using gatehouse::test::Watchdog;

namespace {

// Answers "user password": OK for password "right", ERR otherwise; "crash" exits, "hang"
// never answers, "garbage" answers nonsense, "bh" answers BH.
const char* kScript = R"(while read user pass; do
  case "$user" in
    crash) exit 3 ;;
    hang) exec sleep 60 ;;
    garbage) echo "HTTP/1.1 200 OK" ;;
    bh) echo "BH message=ldap%20down" ;;
    *) if [ "$pass" = right ]; then echo "OK user=$user"; else echo "ERR message=wrong"; fi ;;
  esac
done
)";

struct Result {
  HelperOutcome outcome;
  HelperResult result;
  std::string user;
};

// Submits `users` (password "right") one after another's answer? No: all at once; runs the
// loop until each answered, then closes the pool.
std::vector<Result> run(HelperPoolOptions options, std::vector<std::string> users,
                        size_t* refusedAtOnce = nullptr) {
  std::signal(SIGPIPE, SIG_IGN); // the proxy does the same: a dead helper's pipe is an error
  uv::Loop loop;
  HelperPool pool(loop, options);
  std::vector<Result> results(users.size());
  size_t answered = 0;
  size_t expected = users.size();
  Watchdog* dog = nullptr;
  dog = Watchdog::start(loop, 10'000, [&] {
    dog = nullptr;
    pool.close();
    loop.requestStop();
  });
  CHECK(pool.liveChildren() == 0); // started lazily
  for (size_t i = 0; i < users.size(); ++i) {
    bool queued = pool.submit(users[i] + " right", [&, i](HelperOutcome o, const HelperReply& r) {
      results[i] = Result{o, r.result, std::string(r.note("user"))};
      if (++answered == expected) {
        pool.close();
        if (dog != nullptr) {
          dog->stop();
        }
        loop.requestStop();
      }
    });
    if (!queued) {
      results[i] = Result{HelperOutcome::ShutDown, HelperResult::Unknown, "refused"};
      --expected;
      if (refusedAtOnce) {
        ++*refusedAtOnce;
      }
    }
  }
  loop.run();
  return results;
}

} // namespace

TEST_CASE("helper pool: one request at a time per child, replies matched in order") {
  ScriptDir dir;
  HelperPoolOptions options;
  options.argv = {dir.script("helper.sh", kScript)};
  options.children = 2;
  auto results = run(options, {"alice", "bob", "carol", "dave"});
  for (size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].outcome == HelperOutcome::Replied);
    CHECK(results[i].result == HelperResult::Ok);
  }
  CHECK(results[0].user == "alice");
  CHECK(results[3].user == "dave");
}

TEST_CASE("helper pool: channel IDs match replies that come back out of order") {
  ScriptDir dir;
  // Reads two requests, answers the second first.
  HelperPoolOptions options;
  options.argv = {dir.script("concurrent.sh", R"(while read id1 u1 p1 && read id2 u2 p2; do
  echo "$id2 OK user=$u2"
  echo "$id1 OK user=$u1"
done
)")};
  options.children = 1;
  options.concurrency = 4;
  auto results = run(options, {"first", "second"});
  REQUIRE(results[0].outcome == HelperOutcome::Replied);
  REQUIRE(results[1].outcome == HelperOutcome::Replied);
  CHECK(results[0].user == "first");
  CHECK(results[1].user == "second");
}

TEST_CASE("helper pool: a crashed helper fails its request and another child serves on") {
  ScriptDir dir;
  HelperPoolOptions options;
  options.argv = {dir.script("helper.sh", kScript)};
  options.children = 2;
  auto results = run(options, {"crash", "alice"});
  CHECK(results[0].outcome == HelperOutcome::HelperDied);
  CHECK(results[1].outcome == HelperOutcome::Replied);
  CHECK(results[1].user == "alice");
}

TEST_CASE("helper pool: a helper that hangs times out and is replaced") {
  ScriptDir dir;
  HelperPoolOptions options;
  options.argv = {dir.script("helper.sh", kScript)};
  options.children = 2;
  options.timeoutMs = 200;
  auto results = run(options, {"hang", "alice"});
  CHECK(results[0].outcome == HelperOutcome::Timeout);
  CHECK(results[1].outcome == HelperOutcome::Replied);
}

TEST_CASE("helper pool: garbage and BH") {
  ScriptDir dir;
  HelperPoolOptions options;
  options.argv = {dir.script("helper.sh", kScript)};
  options.children = 1;
  auto results = run(options, {"garbage", "bh"});
  CHECK(results[0].outcome == HelperOutcome::HelperDied);
  // The garbage child was killed; with one slot in back-off, the queued request fails fast
  // rather than waiting out its timeout (or it reached a restarted child: BH).
  if (results[1].outcome == HelperOutcome::Replied) {
    CHECK(results[1].result == HelperResult::BrokenHelper);
  } else {
    CHECK(results[1].outcome == HelperOutcome::HelperDied);
  }
}

TEST_CASE("helper pool: a BH reply comes through as BrokenHelper with its message") {
  ScriptDir dir;
  HelperPoolOptions options;
  options.argv = {dir.script("helper.sh", kScript)};
  auto results = run(options, {"bh"});
  CHECK(results[0].outcome == HelperOutcome::Replied);
  CHECK(results[0].result == HelperResult::BrokenHelper);
}

TEST_CASE("helper pool: a missing program fails fast instead of hanging") {
  HelperPoolOptions options;
  options.argv = {"/nonexistent/helper"};
  options.children = 1;
  options.timeoutMs = 60'000; // a wait this long would trip the watchdog
  auto results = run(options, {"alice"});
  CHECK(results[0].outcome == HelperOutcome::HelperDied);
}

TEST_CASE("helper pool: the queue is bounded - overflow is refused at once") {
  ScriptDir dir;
  HelperPoolOptions options;
  options.argv = {dir.script("helper.sh", kScript)};
  options.children = 1;
  options.queueLimit = 2;
  options.timeoutMs = 200;
  size_t refused = 0;
  // The first goes to the child (and hangs), two wait, the fourth has no room.
  auto results = run(options, {"hang", "a", "b", "c"}, &refused);
  CHECK(refused == 1);
  CHECK(results[0].outcome == HelperOutcome::Timeout);
  CHECK(results[3].user == "refused");
}
