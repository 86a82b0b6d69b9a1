// The per-request state holder (request_state.h) without a connection: on a real loop with a
// worker context and an unconnected client stream, it allocates on first use (the record
// first), keeps its objects in place across exchanges, and frees what the connection's state
// says may go: all of it between requests, the work but not the record in a tunnel, nothing
// while a request is under way.

#include <catch2/catch.hpp>

#include "context_rig.h"
#include "gatehouse/proxy/request_state.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"

using namespace gatehouse;
using namespace gatehouse::proxy;
using State = ConnectionState;

namespace {

// What the reader and the exchange call back into: the holder is only asked to build them.
struct QuietEvents final : ReaderEvents, ExchangeEvents {
  ReadMode mode = ReadMode::Heads;
  int heads = 0;
  ReadMode readMode() const override { return mode; }
  void onReaderHead(std::string_view) override {
    ++heads;
    mode = ReadMode::Hold;
  }
  void onReaderBody(std::string_view) override {}
  void onReaderRequestEnd() override {}
  void onReaderError(bool) override {}
  void onReaderDiscardOverflow() override {}
  bool exchangeWrite(std::initializer_list<std::string_view>) override { return true; }
  void onExchangeConnecting() override {}
  void onExchangeRetrying() override {}
  void onExchangeSending() override {}
  void onExchangeTunnel(uv::TcpStream*, std::string_view) override {}
  void onExchangeComplete() override {}
  void onExchangeFailed(errors::ProxyError, errors::Phase, std::string, std::string,
                        bool) override {}
  void onExchangeUpstreamDrained() override {}
};

// A worker's context on a loop, and a client stream that never connects.
struct Rig : testing::WorkerContextRig {
  uv::TcpStream* client = uv::TcpStream::create(loop);
  QuietEvents events;
  RequestState state;

  RequestWork& work() { return state.work(context, *client, events, events); }

  ~Rig() {
    state.clear(); // the exchange goes before the loop's handles close
    client->close();
    resolver.close();
    loop.stop();
    loop.run();
  }
};

} // namespace

TEST_CASE("request state: nothing until asked, the record first, and it stays put",
          "[request-state]") {
  Rig rig;
  CHECK_FALSE(rig.state.active());
  CHECK(rig.state.recordIfAny() == nullptr);
  CHECK(rig.state.head() == nullptr);
  CHECK_FALSE(rig.state.headStarted());
  CHECK_FALSE(rig.state.hasKept());
  CHECK_FALSE(rig.state.responseStarted());
  CHECK_FALSE(rig.state.upstreamFull());

  RequestWork& work = rig.work();
  CHECK(rig.state.active());
  REQUIRE(rig.state.recordIfAny() != nullptr);
  CHECK(&rig.work() == &work); // allocated once
  CHECK(rig.state.head() == &work.reader.parser().request());

  // A new exchange clears the record, the flow and the details in place.
  ExchangeRecord* record = rig.state.recordIfAny();
  record->id = "0.1.1";
  rig.state.flow().clientKeepAlive = false;
  work.request.accept = "text/html";
  rig.state.resetExchange();
  CHECK(rig.state.recordIfAny() == record);
  CHECK(record->id.empty());
  CHECK(rig.state.flow().clientKeepAlive);
  CHECK(work.request.accept.empty());
  CHECK(&rig.work() == &work);
}

TEST_CASE("request state: a record alone (an error before any byte) has no work",
          "[request-state]") {
  Rig rig;
  rig.state.record().id = "0.1.1";
  CHECK_FALSE(rig.state.active());
  CHECK(rig.state.head() == nullptr);
  rig.state.resetExchange(); // no work to reset: only the record
  CHECK(rig.state.record().id.empty());
}

TEST_CASE("request state: between requests only in ReadingHead with no byte of the next",
          "[request-state]") {
  Rig rig;
  CHECK(rig.state.betweenRequests(State::ReadingHead)); // nothing allocated yet
  CHECK_FALSE(rig.state.betweenRequests(State::Deciding));
  CHECK_FALSE(rig.state.betweenRequests(State::Tunneling));
  rig.work();
  CHECK(rig.state.betweenRequests(State::ReadingHead));
  rig.work().reader.feed("GET http://a/ HTTP/1.1\r\nHo"); // a head begun
  CHECK(rig.state.headStarted());
  CHECK_FALSE(rig.state.betweenRequests(State::ReadingHead));
}

TEST_CASE("request state: pipelined bytes kept are a next request", "[request-state]") {
  Rig rig;
  rig.work().reader.feed("GET http://a/1 HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET http://a/2 HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(rig.events.heads == 1);
  CHECK(rig.state.hasKept());
  CHECK_FALSE(rig.state.betweenRequests(State::ReadingHead));
  rig.state.dropKept(); // a draining connection never reads them
  CHECK_FALSE(rig.state.hasKept());
}

TEST_CASE("request state: release frees all between requests, the work alone in a tunnel",
          "[request-state]") {
  SECTION("idle keep-alive: the work and the record go") {
    Rig rig;
    rig.work();
    rig.state.releaseIfIdle(State::ReadingHead);
    CHECK_FALSE(rig.state.active());
    CHECK(rig.state.recordIfAny() == nullptr);
  }
  SECTION("a tunnel keeps its record for the access line") {
    Rig rig;
    rig.work();
    rig.state.record().id = "0.1.1";
    rig.state.releaseIfIdle(State::Tunneling);
    CHECK_FALSE(rig.state.active());
    REQUIRE(rig.state.recordIfAny() != nullptr);
    CHECK(rig.state.recordIfAny()->id == "0.1.1");
  }
  SECTION("a head begun, or a request under way, keeps everything") {
    Rig rig;
    rig.work().reader.feed("GET http://a/ HTTP/1.1\r\nHo");
    rig.state.releaseIfIdle(State::ReadingHead);
    CHECK(rig.state.active());
    rig.state.releaseIfIdle(State::Forwarding);
    CHECK(rig.state.active());
    CHECK(rig.state.recordIfAny() != nullptr);
  }
  SECTION("a record without work between requests stays (nothing to release)") {
    Rig rig;
    rig.state.record();
    rig.state.releaseIfIdle(State::ReadingHead);
    CHECK(rig.state.recordIfAny() != nullptr);
  }
  SECTION("clear frees both whatever the state") {
    Rig rig;
    rig.work();
    rig.state.clear();
    CHECK_FALSE(rig.state.active());
    CHECK(rig.state.recordIfAny() == nullptr);
  }
}

TEST_CASE("request state: a release is due from its time on, and done once", "[request-state]") {
  Rig rig;
  CHECK_FALSE(rig.state.releaseDue(0));
  CHECK_FALSE(rig.state.releaseDue(1'000'000));
  rig.state.scheduleRelease(1000);
  CHECK_FALSE(rig.state.releaseDue(1000 + kReleaseIdleStateMs - 1));
  CHECK(rig.state.releaseDue(1000 + kReleaseIdleStateMs));
  ConnectionClock clock;
  rig.state.fillClock(clock);
  CHECK(clock.releaseAt == 1000 + kReleaseIdleStateMs);
  rig.state.releaseIfIdle(State::Forwarding); // nothing freed, but the schedule is done
  CHECK_FALSE(rig.state.releaseDue(1'000'000));
}

TEST_CASE("request state: the deadlines read the request's progress", "[request-state]") {
  Rig rig;
  ConnectionClock clock;
  rig.state.fillClock(clock);
  CHECK_FALSE(clock.headStarted);
  CHECK_FALSE(clock.requestComplete);
  CHECK_FALSE(clock.expectContinue);
  CHECK_FALSE(clock.upstreamFull);
  CHECK_FALSE(clock.resolving);
  CHECK(clock.releaseAt == 0);

  rig.work().reader.feed("POST http://a/ HTTP/1.1\r\nHo");
  rig.state.flow().requestComplete = true;
  rig.state.flow().expectContinue = true;
  rig.state.fillClock(clock);
  CHECK(clock.headStarted);
  CHECK(clock.requestComplete);
  CHECK(clock.expectContinue);
  CHECK_FALSE(clock.resolving); // no lookup was started
}

TEST_CASE("request state: a bodiless request is complete once its head is", "[request-state]") {
  Rig rig;
  CHECK_FALSE(rig.state.finishBodyless()); // no request state: nothing is complete
  rig.work().reader.feed("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(rig.events.heads == 1);
  CHECK(rig.state.finishBodyless());
  CHECK(rig.state.flow().requestComplete);
  CHECK(rig.state.finishBodyless()); // asked again: still complete
}

TEST_CASE("request state: a request with a body is not complete at its head", "[request-state]") {
  Rig rig;
  rig.work().reader.feed("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
  REQUIRE(rig.events.heads == 1);
  CHECK_FALSE(rig.state.finishBodyless());
  CHECK_FALSE(rig.state.flow().requestComplete);
}

TEST_CASE("request state: after a local answer, a bodiless request keeps the connection",
          "[request-state]") {
  Rig rig;
  CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::RuleDenied)); // no request state
  rig.work().reader.feed("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(rig.state.keepAfterAnswer(errors::ProxyError::RuleDenied));
  rig.state.flow().clientKeepAlive = false; // the client (or a drain) wants the close
  CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::RuleDenied));
  CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::AuthRequired));
}

TEST_CASE("request state: only an authentication refusal throws a body away to keep",
          "[request-state]") {
  Rig rig;
  rig.work().reader.feed("POST http://a/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
  REQUIRE(rig.events.heads == 1);
  CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::RuleDenied));
  CHECK(rig.state.keepAfterAnswer(errors::ProxyError::AuthRequired));
  // The connection reads heads again (the answer went out): the body goes, the next head comes.
  rig.events.mode = ReadMode::Heads;
  rig.work().reader.feed("helloGET http://a/2 HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(rig.events.heads == 2);
  CHECK(rig.state.head()->target == "http://a/2");
}

TEST_CASE("request state: a client waiting for 100 Continue, or a body too long, closes",
          "[request-state]") {
  SECTION("Expect: 100-continue with the body unsent") {
    Rig rig;
    rig.work().reader.feed("PUT http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                           "Expect: 100-continue\r\n\r\n");
    rig.state.flow().expectContinue = true; // as flowOfHead sets it
    CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::AuthRequired));
  }
  SECTION("a Content-Length over the discard bound") {
    Rig rig;
    rig.work().reader.feed("PUT http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                           std::to_string(kMaxDiscardBytes + 1) + "\r\n\r\n");
    CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::AuthRequired));
  }
}

TEST_CASE("request state: a refused CONNECT keeps the connection only for authentication",
          "[request-state]") {
  Rig rig;
  rig.work().reader.feed("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
  REQUIRE(rig.events.heads == 1);
  rig.work().request.facts.isConnect = true; // as the policy chain finds it
  CHECK_FALSE(rig.state.finishBodyless());   // its "body" is the tunnel
  CHECK_FALSE(rig.state.keepAfterAnswer(errors::ProxyError::RuleDenied));
  CHECK(rig.state.keepAfterAnswer(errors::ProxyError::AuthRequired));
  CHECK_FALSE(rig.state.headStarted()); // what followed it is never read as HTTP
}
