#include <catch2/catch.hpp>

#include "gatehouse/proxy/connection_state.h"

using namespace gatehouse::proxy;
using S = ConnectionState;

TEST_CASE("connection states: the allowed edges", "[state]") {
  CHECK(transitionAllowed(S::ReadingHead, S::Deciding));
  CHECK(transitionAllowed(S::Deciding, S::Resolving));
  CHECK(transitionAllowed(S::Deciding, S::Forwarding));  // a pooled upstream
  CHECK(transitionAllowed(S::Deciding, S::ReadingHead)); // a local answer, keep-alive
  CHECK(transitionAllowed(S::Resolving, S::Connecting));
  CHECK(transitionAllowed(S::Connecting, S::ReadingHead)); // error page, keep-alive
  CHECK(transitionAllowed(S::Connecting, S::Tunneling));
  CHECK(transitionAllowed(S::Forwarding, S::Resolving)); // a retry on a new connection
  CHECK(transitionAllowed(S::Forwarding, S::Tunneling)); // 101
  CHECK(transitionAllowed(S::Forwarding, S::ReadingHead));
  for (S s : {S::ReadingHead, S::Deciding, S::Resolving, S::Connecting, S::Forwarding, S::Tunneling,
              S::Draining}) {
    CHECK(transitionAllowed(s, S::Closed));
  }
}

TEST_CASE("connection states: edges that would be bugs", "[state]") {
  CHECK_FALSE(transitionAllowed(S::ReadingHead, S::Forwarding)); // no policy decision
  CHECK_FALSE(transitionAllowed(S::ReadingHead, S::Tunneling));
  CHECK_FALSE(transitionAllowed(S::Tunneling, S::ReadingHead)); // a tunnel never goes back
  CHECK_FALSE(transitionAllowed(S::Tunneling, S::Draining));
  CHECK_FALSE(transitionAllowed(S::Draining, S::ReadingHead));
  CHECK_FALSE(transitionAllowed(S::Resolving, S::Forwarding));
  for (S s : {S::ReadingHead, S::Deciding, S::Draining, S::Closed}) {
    CHECK_FALSE(transitionAllowed(S::Closed, s)); // Closed is final
  }
  CHECK_FALSE(transitionAllowed(S::ReadingHead, S::ReadingHead)); // no silent self-loops
}

TEST_CASE("connection states: the machine records the first ending", "[state]") {
  ConnectionStateMachine machine;
  CHECK(machine.is(S::ReadingHead));
  CHECK(machine.to(S::Deciding));
  CHECK(machine.to(S::Draining));
  machine.close(ConnectionEnd::Drained);
  machine.close(ConnectionEnd::Shutdown);
  CHECK(machine.is(S::Closed));
  CHECK(machine.end() == ConnectionEnd::Drained);
  CHECK(std::string(connectionStateName(S::Deciding)) == "deciding");
}

#ifdef NDEBUG
TEST_CASE("connection states: an illegal edge is counted in release builds", "[state]") {
  const uint64_t before = illegalTransitions().load();
  ConnectionStateMachine machine;
  CHECK_FALSE(machine.to(S::Tunneling));
  CHECK(illegalTransitions().load() == before + 1);
  illegalTransitions() -= 1; // the integration harness asserts zero
}
#endif

TEST_CASE("connection states: what the reader does with client bytes in each state", "[state]") {
  CHECK(readModeFor(S::ReadingHead, false, false) == ReadMode::Heads);
  CHECK(readModeFor(S::Deciding, false, false) == ReadMode::Hold);
  CHECK(readModeFor(S::Resolving, false, false) == ReadMode::Hold);
  CHECK(readModeFor(S::Connecting, false, false) == ReadMode::Hold);
  CHECK(readModeFor(S::Forwarding, false, false) == ReadMode::Body);
  CHECK(readModeFor(S::Forwarding, false, true) == ReadMode::UpgradeEnd);
  CHECK(readModeFor(S::Forwarding, true, false) == ReadMode::Hold); // pipelined: wait
  for (S s : {S::Tunneling, S::Draining, S::Closed}) {
    CHECK(readModeFor(s, false, false) == ReadMode::Stop);
  }
}

TEST_CASE("connection states: when the client socket is read", "[state]") {
  // Waiting for a head, a decision or an upstream: read unless bytes are kept already.
  for (S s : {S::ReadingHead, S::Deciding, S::Resolving, S::Connecting}) {
    CHECK(wantClientReads(s, false, false, false) == true);
    CHECK(wantClientReads(s, true, false, false) == false);
  }
  // Forwarding: also paused while the upstream takes no more body.
  CHECK(wantClientReads(S::Forwarding, false, false, false) == true);
  CHECK(wantClientReads(S::Forwarding, false, true, false) == false);
  CHECK(wantClientReads(S::Forwarding, true, false, false) == false);
  // Draining reads (and drops) until the client's EOF: lingering close.
  CHECK(wantClientReads(S::Draining, true, true, false) == true);
  CHECK(wantClientReads(S::Draining, false, false, true) == false);
  // The tunnel decides; a closed connection reads nothing more.
  CHECK_FALSE(wantClientReads(S::Tunneling, false, false, false).has_value());
  CHECK_FALSE(wantClientReads(S::Closed, false, false, false).has_value());
}
