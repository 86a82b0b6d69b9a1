// Which deadline a client connection waits for in each state and what ends when it passes
// (connection_deadlines.h), as tables: no loop, no sockets, times are plain numbers.

#include <catch2/catch.hpp>

#include "gatehouse/proxy/connection_deadlines.h"

using namespace gatehouse::proxy;
using gatehouse::errors::Phase;
using gatehouse::errors::ProxyError;
using S = ConnectionState;
using K = Expiry::Kind;

namespace {

// Distinct values, so a deadline shows which limit it came from.
constexpr DeadlineLimits kLimits{.requestHeadTimeoutMs = 15'000,
                                 .idleTimeoutMs = 120'000,
                                 .dnsTimeoutMs = 5'000,
                                 .readTimeoutMs = 30'000};

// A connection accepted at 1000, its state entered at 2000, its client last heard at 3000.
ConnectionClock clockIn(S state) {
  ConnectionClock c;
  c.state = state;
  c.now = 3000;
  c.stateSince = 2000;
  c.lastClientActivity = 3000;
  c.headStartedAt = 1000;
  return c;
}

} // namespace

TEST_CASE("deadlines: the one each state waits for", "[deadlines]") {
  struct Row {
    const char* what;
    ConnectionClock clock;
    std::optional<uint64_t> deadline;
  };
  auto with = [](S state, auto change) {
    ConnectionClock c = clockIn(state);
    change(c);
    return c;
  };
  const Row rows[] = {
      {"the first head is due from accept", clockIn(S::ReadingHead), 1000 + 15'000},
      {"a later head from its first byte",
       with(S::ReadingHead,
            [](ConnectionClock& c) {
              c.requestCount = 1;
              c.headStarted = true;
              c.headStartedAt = 2500;
            }),
       2500 + 15'000},
      {"between requests: idle from the last byte",
       with(S::ReadingHead, [](ConnectionClock& c) { c.requestCount = 3; }), 3000 + 120'000},
      {"deciding has none of its own", clockIn(S::Deciding), std::nullopt},
      {"resolving: dns_timeout from the state's start", clockIn(S::Resolving), 2000 + 5'000},
      {"connecting: the upstream's own timer", clockIn(S::Connecting), std::nullopt},
      {"forwarding a body: read_timeout from the client's last byte", clockIn(S::Forwarding),
       3000 + 30'000},
      {"forwarding once the request is in: a look at the client's reading, idle from the "
       "state's start",
       with(S::Forwarding, [](ConnectionClock& c) { c.requestComplete = true; }), 2000 + 120'000},
      {"... and from the last look once there was one",
       with(S::Forwarding,
            [](ConnectionClock& c) {
              c.requestComplete = true;
              c.writeQueue = 300'000;
              c.responseLookedAt = 2600;
            }),
       2600 + 120'000},
      {"tunneling: idle from the tunnel's last byte",
       with(S::Tunneling,
            [](ConnectionClock& c) {
              c.tunnelOpen = true;
              c.tunnelLastActivity = 2800;
            }),
       2800 + 120'000},
      {"tunneling before the tunnel exists: idle from now", clockIn(S::Tunneling), 3000 + 120'000},
      {"draining before our FIN: idle per stall", clockIn(S::Draining), 2000 + 120'000},
      {"draining after our FIN: the linger time",
       with(S::Draining, [](ConnectionClock& c) { c.shutdownDone = true; }), 2000 + kLingerMs},
      {"closed: none", clockIn(S::Closed), std::nullopt},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    CHECK(nextDeadline(row.clock, kLimits) == row.deadline);
  }
}

TEST_CASE("deadlines: a scheduled release fires early, only where a deadline runs", "[deadlines]") {
  ConnectionClock c = clockIn(S::ReadingHead);
  c.releaseAt = 3020;
  CHECK(nextDeadline(c, kLimits) == 3020u);
  c.releaseAt = 99'000'000; // later than the head deadline: the deadline wins
  CHECK(nextDeadline(c, kLimits) == 1000u + 15'000);
  c = clockIn(S::Tunneling);
  c.tunnelOpen = true;
  c.releaseAt = 3020;
  CHECK(nextDeadline(c, kLimits) == 3020u);
  c = clockIn(S::Deciding);
  c.releaseAt = 3020;
  CHECK_FALSE(nextDeadline(c, kLimits).has_value());
  c = clockIn(S::Forwarding);
  c.requestComplete = true;
  c.releaseAt = 3020;
  CHECK(nextDeadline(c, kLimits) == 3020u); // the response look runs: the release comes first
}

TEST_CASE("deadlines: nothing ends before its deadline", "[deadlines]") {
  // One ms short of each state's deadline (an early fire for a release, say).
  ConnectionClock c = clockIn(S::ReadingHead);
  c.now = 1000 + 15'000 - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
  c = clockIn(S::ReadingHead);
  c.requestCount = 1;
  c.now = 3000 + 120'000 - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
  c = clockIn(S::Resolving);
  c.resolving = true;
  c.now = 2000 + 5'000 - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
  c = clockIn(S::Forwarding);
  c.now = 3000 + 30'000 - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
  c = clockIn(S::Tunneling);
  c.tunnelOpen = true;
  c.tunnelLastActivity = 3000;
  c.now = 3000 + 120'000 - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
  c = clockIn(S::Draining);
  c.now = 2000 + 120'000 - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
  c.shutdownDone = true;
  c.now = 2000 + kLingerMs - 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::None);
}

TEST_CASE("deadlines: what each passed deadline ends", "[deadlines]") {
  struct Row {
    const char* what;
    ConnectionClock clock;
    K kind;
    ProxyError error;
    Phase phase;
    std::string detail;
    ConnectionEnd end;
    bool reset;
  };
  auto at = [](S state, uint64_t now, auto change) {
    ConnectionClock c = clockIn(state);
    c.now = now;
    change(c);
    return c;
  };
  auto none = [](ConnectionClock&) {};
  const Row rows[] = {
      {"a client that sent nothing since accept", at(S::ReadingHead, 16'000, none), K::RequestHead,
       ProxyError::RequestTimeout, Phase::ReadHead, "no request within 15000 ms of connecting",
       ConnectionEnd::None, false},
      {"half a head", at(S::ReadingHead, 16'000, [](ConnectionClock& c) { c.headStarted = true; }),
       K::RequestHead, ProxyError::RequestTimeout, Phase::ReadHead,
       "request head not complete within 15000 ms", ConnectionEnd::None, false},
      {"half a second head",
       at(S::ReadingHead, 40'000,
          [](ConnectionClock& c) {
            c.requestCount = 2;
            c.headStarted = true;
            c.headStartedAt = 20'000;
          }),
       K::RequestHead, ProxyError::RequestTimeout, Phase::ReadHead,
       "request head not complete within 15000 ms", ConnectionEnd::None, false},
      {"an idle keep-alive connection",
       at(S::ReadingHead, 123'000, [](ConnectionClock& c) { c.requestCount = 1; }), K::IdleClose,
       ProxyError::None, Phase::ReadHead, "", ConnectionEnd::IdleTimeout, false},
      {"a lookup that did not answer",
       at(S::Resolving, 7'000, [](ConnectionClock& c) { c.resolving = true; }), K::DnsTimeout,
       ProxyError::None, Phase::Dns, "", ConnectionEnd::None, false},
      {"resolving with no lookup in flight (a pooled retry)", at(S::Resolving, 7'000, none),
       K::None, ProxyError::None, Phase::ReadHead, "", ConnectionEnd::None, false},
      {"a request body that stalled", at(S::Forwarding, 33'000, none), K::RequestBody,
       ProxyError::RequestTimeout, Phase::Send, "request body stalled for 30000 ms",
       ConnectionEnd::None, false},
      {"a client waiting for 100 Continue: the upstream's fault",
       at(S::Forwarding, 33'000, [](ConnectionClock& c) { c.expectContinue = true; }),
       K::RequestBody, ProxyError::UpstreamReadTimeout, Phase::Send,
       "no 100 Continue or response within 30000 ms", ConnectionEnd::None, false},
      {"an upstream that stopped reading the body: its fault",
       at(S::Forwarding, 33'000, [](ConnectionClock& c) { c.upstreamFull = true; }), K::RequestBody,
       ProxyError::UpstreamReadTimeout, Phase::Send,
       "upstream stopped reading the request body for 30000 ms", ConnectionEnd::None, false},
      {"a complete request before the look: the upstream's timers, not ours",
       at(S::Forwarding, 99'000, [](ConnectionClock& c) { c.requestComplete = true; }), K::None,
       ProxyError::None, Phase::ReadHead, "", ConnectionEnd::None, false},
      {"a client reading the response slowly: look again later",
       at(S::Forwarding, 122'000,
          [](ConnectionClock& c) {
            c.requestComplete = true;
            c.writeQueue = 300'000;
            c.responseTaken = 50'000;
            c.responseTakenSeen = 40'000;
          }),
       K::ResponseProgress, ProxyError::None, Phase::ReadHead, "", ConnectionEnd::None, false},
      {"a client that took nothing of the response while it waited: cut",
       at(S::Forwarding, 122'000,
          [](ConnectionClock& c) {
            c.requestComplete = true;
            c.writeQueue = 300'000;
            c.responseTaken = 40'000;
            c.responseTakenSeen = 40'000;
          }),
       K::ResponseStalled, ProxyError::ClientClosed, Phase::ReadBody,
       "the client took no byte of the response for 120000 ms", ConnectionEnd::None, false},
      {"the same before the period is over",
       at(S::Forwarding, 122'000,
          [](ConnectionClock& c) {
            c.requestComplete = true;
            c.writeQueue = 300'000;
            c.responseLookedAt = 10'000;
          }),
       K::None, ProxyError::None, Phase::ReadHead, "", ConnectionEnd::None, false},
      {"nothing queued for the client at the look: look again later",
       at(S::Forwarding, 999'000, [](ConnectionClock& c) { c.requestComplete = true; }),
       K::ResponseProgress, ProxyError::None, Phase::ReadHead, "", ConnectionEnd::None, false},
      {"an idle tunnel",
       at(S::Tunneling, 130'000,
          [](ConnectionClock& c) {
            c.tunnelOpen = true;
            c.tunnelLastActivity = 5'000;
          }),
       K::TunnelIdle, ProxyError::None, Phase::Tunnel, "idle for 120000 ms", ConnectionEnd::None,
       false},
      {"a slow reader of our last response that made progress",
       at(S::Draining, 122'000,
          [](ConnectionClock& c) {
            c.writeQueue = 100'000;
            c.writeQueueSeen = 200'000;
          }),
       K::DrainProgress, ProxyError::None, Phase::ReadHead, "", ConnectionEnd::Drained, false},
      {"a reader that stopped: reset",
       at(S::Draining, 122'000,
          [](ConnectionClock& c) {
            c.writeQueue = 200'000;
            c.writeQueueSeen = 200'000;
          }),
       K::DrainStalled, ProxyError::None, Phase::ReadHead, "", ConnectionEnd::Drained, true},
      {"lingering over after our FIN",
       at(S::Draining, 7'000, [](ConnectionClock& c) { c.shutdownDone = true; }), K::Lingered,
       ProxyError::None, Phase::ReadHead, "", ConnectionEnd::Drained, false},
      {"deciding never expires", at(S::Deciding, 999'000, none), K::None, ProxyError::None,
       Phase::ReadHead, "", ConnectionEnd::None, false},
      {"connecting never expires here", at(S::Connecting, 999'000, none), K::None, ProxyError::None,
       Phase::ReadHead, "", ConnectionEnd::None, false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    Expiry e = expiredDeadline(row.clock, kLimits);
    CHECK(e.kind == row.kind);
    CHECK(e.error == row.error);
    CHECK(e.phase == row.phase);
    CHECK(e.detail == row.detail);
    CHECK(e.end == row.end);
    CHECK(e.reset == row.reset);
  }
}

TEST_CASE("deadlines: the head deadline wins over idle while a head is due", "[deadlines]") {
  // Before the first request both have passed: a silent client gets the 408, not a quiet close.
  ConnectionClock c = clockIn(S::ReadingHead);
  c.now = 500'000;
  CHECK(expiredDeadline(c, kLimits).kind == K::RequestHead);
  // After a request, with no byte of the next: idle, quietly.
  c.requestCount = 1;
  CHECK(expiredDeadline(c, kLimits).kind == K::IdleClose);
}

TEST_CASE("deadlines: the limits come from the configuration's timeouts", "[deadlines]") {
  gatehouse::config::Config config;
  config.requestHeadTimeoutMs = 1'001;
  config.idleTimeoutMs = 2'002;
  config.dnsTimeoutMs = 3'003;
  config.readTimeoutMs = 4'004;
  config.connectTimeoutMs = 5'005; // the upstream's own timer, not the connection's
  const DeadlineLimits limits = deadlineLimits(config);
  CHECK(limits.requestHeadTimeoutMs == 1'001);
  CHECK(limits.idleTimeoutMs == 2'002);
  CHECK(limits.dnsTimeoutMs == 3'003);
  CHECK(limits.readTimeoutMs == 4'004);
}
