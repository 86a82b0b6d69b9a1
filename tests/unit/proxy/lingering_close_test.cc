// A draining connection's lingering close (lingering_close.h) without a socket: when it closes
// at once and when it lingers, what a client's EOF does before and after our FIN, and the
// marks the deadlines read (the deadlines themselves are connection_deadlines_test.cc's).

#include <catch2/catch.hpp>

#include "gatehouse/proxy/lingering_close.h"

using namespace gatehouse::proxy;

namespace {

ConnectionClock clockOf(const LingeringClose& lingering) {
  ConnectionClock clock;
  clock.state = ConnectionState::Draining;
  lingering.fillClock(clock);
  return clock;
}

} // namespace

TEST_CASE("lingering close: begins with the write queue seen and no FIN", "[lingering]") {
  LingeringClose lingering;
  lingering.begin(4096);
  ConnectionClock clock = clockOf(lingering);
  CHECK_FALSE(clock.shutdownDone);
  CHECK(clock.writeQueueSeen == 4096);
}

TEST_CASE("lingering close: a FIN out lingers, an EOF first or a failed shutdown closes",
          "[lingering]") {
  LingeringClose lingering;
  lingering.begin(0);
  CHECK_FALSE(lingering.lingerAfterShutdown(0, true)); // the client had sent its EOF
  CHECK_FALSE(clockOf(lingering).shutdownDone);
  CHECK_FALSE(lingering.lingerAfterShutdown(-32, false)); // EPIPE: nothing to linger for
  CHECK_FALSE(clockOf(lingering).shutdownDone);
  CHECK(lingering.lingerAfterShutdown(0, false));
  CHECK(clockOf(lingering).shutdownDone); // the deadlines switch to the linger time
}

TEST_CASE("lingering close: a client's EOF closes once nothing is left to write", "[lingering]") {
  LingeringClose lingering;
  lingering.begin(8192);
  CHECK_FALSE(lingering.closeOnClientEof(8192)); // our response is still queued
  CHECK(lingering.closeOnClientEof(0));          // all written: nothing to wait for
  REQUIRE(lingering.lingerAfterShutdown(0, false));
  CHECK(lingering.closeOnClientEof(100)); // after our FIN, whatever the queue says
}

TEST_CASE("lingering close: progress moves the write queue seen, a new begin resets all",
          "[lingering]") {
  LingeringClose lingering;
  lingering.begin(10'000);
  lingering.progressed(2'000);
  CHECK(clockOf(lingering).writeQueueSeen == 2'000);
  REQUIRE(lingering.lingerAfterShutdown(0, false));
  lingering.begin(500); // (a connection drains once; begin() must not keep old marks anyway)
  ConnectionClock clock = clockOf(lingering);
  CHECK_FALSE(clock.shutdownDone);
  CHECK(clock.writeQueueSeen == 500);
  CHECK_FALSE(lingering.closeOnClientEof(500));
}

TEST_CASE("lingering close: its marks drive the Draining deadlines", "[lingering]") {
  const DeadlineLimits limits{.idleTimeoutMs = 120'000};
  LingeringClose lingering;
  lingering.begin(1'000);
  ConnectionClock clock = clockOf(lingering);
  clock.stateSince = 2'000;
  clock.now = 2'000 + 120'000;
  clock.writeQueue = 1'000; // the client read nothing in a whole period
  CHECK(expiredDeadline(clock, limits).kind == Expiry::Kind::DrainStalled);
  clock.writeQueue = 10; // it read some: another period
  CHECK(expiredDeadline(clock, limits).kind == Expiry::Kind::DrainProgress);

  REQUIRE(lingering.lingerAfterShutdown(0, false));
  clock = clockOf(lingering);
  clock.stateSince = 5'000; // the FIN went out then
  CHECK(nextDeadline(clock, limits) == 5'000 + kLingerMs);
}
