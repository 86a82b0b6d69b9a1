// The request cycle (request_cycle.h) without a ClientConnection: a stand-in connection
// answers the hooks and writes down which it was asked for, a scripted policy step decides,
// and the client is a plain socket at the far end of a loopback connection that reads what
// the cycle answered. Shown here: each way a request ends locally asks the connection for
// exactly one continuation (next request, drain, or close), in states the machine allows, with
// the record and the bytes on the wire to match.

#include <catch2/catch.hpp>
#include <cerrno>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "context_rig.h"
#include "gatehouse/proxy/request_cycle.h"
#include "gatehouse/uv/listen_socket.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"

using namespace gatehouse;
using namespace gatehouse::proxy;
using errors::Phase;
using errors::ProxyError;
using policy::Verdict;
using State = ConnectionState;

namespace {

// The one policy step: answers what the test scripted.
struct ScriptedStep final : policy::PolicyStep {
  Verdict verdict;
  int checks = 0;
  std::string_view name() const override { return "scripted"; }
  Verdict check(policy::PolicyRun&) override {
    ++checks;
    return verdict;
  }
};

// The connection side: a state machine, and a log of the hooks called.
class StandIn final : public RequestCycle, uv::StreamHandler {
public:
  StandIn(WorkerContext& context, uv::TcpStream* client) : RequestCycle(context, client) {
    client_->setHandler(this);
  }
  ~StandIn() override = default;

  ConnectionStateMachine machine;
  std::vector<std::string> calls;
  int endedStatus = 0;
  uint64_t illegalBefore = illegalTransitions().load();

  void feed(std::string_view bytes) { reader().feed(bytes); }
  ExchangeRecord& lastRecord() { return record(); }
  void answerBeforeRequest(ProxyError error, std::string detail) {
    startBareRecord(context_->loop.now());
    respondError(error, Phase::ReadHead, std::move(detail));
  }
  bool illegalSeen() const { return illegalTransitions().load() != illegalBefore; }
  void clear() { requests_.clear(); }

private:
  ConnectionState connectionState() const override { return machine.state(); }
  void enterState(ConnectionState next) override {
    calls.push_back(std::string("enter ") + connectionStateName(next));
    machine.to(next);
  }
  void updateClientReading() override {}
  void armTimer() override {}
  void readNextRequest() override {
    calls.push_back("next request");
    endedStatus = record().status; // the stand-in starts the next exchange at once
    machine.to(State::ReadingHead);
    requests_.resetExchange();
  }
  void resumeReading() override { calls.push_back("resume"); }
  void beginDraining() override {
    calls.push_back("drain");
    machine.to(State::Draining);
    requests_.stop();
  }
  void closeNow(bool reset, ConnectionEnd reason) override {
    calls.push_back(std::string(reset ? "reset " : "close ") + connectionEndName(reason));
    machine.close(reason);
    requests_.stop();
  }
  void beginTunnel(uv::TcpStream*, std::string_view) override { calls.push_back("tunnel"); }
  // uv::StreamHandler: the stream is only written to here
  void onStreamRead(uv::TcpStream&, std::string_view) override {}
  void onStreamReadEnd(uv::TcpStream&, int) override {}
  void onStreamClosed(uv::TcpStream&) override {}
};

// A worker context on a loop, one accepted loopback connection (the cycle's client stream),
// and the far end as a plain blocking socket the test reads.
struct Rig : testing::WorkerContextRig {
  policy::PolicyChain chain;
  ScriptedStep* step = nullptr;
  int farEnd = -1;
  uv::TcpStream* near = nullptr;
  std::unique_ptr<StandIn> cycle;

  Rig() {
    auto scripted = std::make_unique<ScriptedStep>();
    step = scripted.get();
    chain.add(std::move(scripted));
    context.policy = &chain;
    uv::SocketAddress loopback;
    REQUIRE(uv::SocketAddress::fromNumeric("127.0.0.1", 0, loopback));
    int listenFd = uv::openListenSocket(loopback, 4);
    REQUIRE(listenFd >= 0);
    uv::Acceptor* acceptor = nullptr;
    acceptor = uv::Acceptor::create(loop, listenFd, [&](uv::TcpStream* s, int) {
      near = s;
      acceptor->close();
      loop.stop(); // the mailbox closes: run() returns once nothing else is active
    });
    farEnd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(uv::boundAddress(listenFd).port());
    REQUIRE(::connect(farEnd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    timeval wait{.tv_sec = 10, .tv_usec = 0}; // a missing answer fails instead of hanging
    ::setsockopt(farEnd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    loop.run();
    ::close(listenFd);
    REQUIRE(near != nullptr);
    cycle = std::make_unique<StandIn>(context, near);
  }

  // What the client received so far (one read: the cycle's answers are written at once).
  std::string received() {
    char buffer[65536];
    ssize_t n = ::recv(farEnd, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

  ~Rig() {
    cycle->clear();
    near->close();
    resolver.close();
    loop.run();
    cycle.reset();
    ::close(farEnd);
  }
};

} // namespace

using Calls = std::vector<std::string>;

TEST_CASE("request cycle: a refused head is answered and the connection reads the next request",
          "[request-cycle]") {
  Rig rig;
  rig.step->verdict = Verdict::refuse(ProxyError::RuleDenied, Phase::ReadHead, "rule r1");
  rig.cycle->feed("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
  CHECK(rig.cycle->calls == Calls{"enter deciding", "next request"});
  CHECK(rig.cycle->endedStatus == 403);
  CHECK(rig.received().rfind("HTTP/1.1 403 ", 0) == 0);
  CHECK(rig.step->checks == 1);
  CHECK_FALSE(rig.cycle->illegalSeen());
}

TEST_CASE("request cycle: a client asking to close gets its local answer, then a drain",
          "[request-cycle]") {
  Rig rig;
  rig.step->verdict = Verdict::answer(200, {}, "hello", "text/plain");
  rig.cycle->feed("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  CHECK(rig.cycle->calls == Calls{"enter deciding", "drain"});
  CHECK(rig.cycle->lastRecord().status == 200);
  const std::string answer = rig.received();
  CHECK(answer.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(answer.find("hello") != std::string::npos);
  CHECK_FALSE(rig.cycle->illegalSeen());
}

TEST_CASE("request cycle: a malformed head gets a bare record, a 400, and a drain",
          "[request-cycle]") {
  Rig rig;
  rig.cycle->feed("GET http://a.test/ HTTP/1.1\r\nHost a.test\r\n\r\n");
  CHECK(rig.cycle->calls == Calls{"drain"}); // no state entered: no head was taken in
  CHECK(rig.cycle->lastRecord().status == 400);
  CHECK(rig.step->checks == 0);
  CHECK(rig.received().rfind("HTTP/1.1 400 ", 0) == 0);
}

TEST_CASE("request cycle: a refusal while the client waits for 100 Continue closes rather than "
          "read a body it may never send",
          "[request-cycle]") {
  Rig rig;
  rig.step->verdict = Verdict::refuse(ProxyError::AuthRequired, Phase::Auth, "no credentials");
  rig.cycle->feed("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
                  "Expect: 100-continue\r\n\r\n");
  CHECK(rig.cycle->calls == Calls{"enter deciding", "drain"});
  CHECK(rig.received().rfind("HTTP/1.1 407 ", 0) == 0);
}

TEST_CASE("request cycle: an answer before any request (the connection limit) drains",
          "[request-cycle]") {
  Rig rig;
  rig.cycle->answerBeforeRequest(ProxyError::ConnectionLimit, "at most 1 client connections");
  CHECK(rig.cycle->calls == Calls{"drain"});
  CHECK(rig.cycle->lastRecord().status == 503);
  CHECK(rig.received().rfind("HTTP/1.1 503 ", 0) == 0);
}

TEST_CASE("request cycle: an answer that cannot be written ends the connection with a reset",
          "[request-cycle]") {
  Rig rig;
  rig.step->verdict = Verdict::refuse(ProxyError::RuleDenied, Phase::ReadHead, "rule r1");
  uv::testing::failNextWrites(1, -EPIPE);
  rig.cycle->feed("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
  uv::testing::failNextWrites(0, 0);
  CHECK(rig.cycle->calls == Calls{"enter deciding", "reset client closed"});
  // The decision stays what the record says (the first error wins: the log keeps why it was
  // refused), and no byte is counted as sent.
  CHECK(rig.cycle->lastRecord().error == ProxyError::RuleDenied);
  CHECK(rig.cycle->lastRecord().bytesOut == 0);
}

TEST_CASE("request cycle: nothing is answered once the connection drains or closed",
          "[request-cycle]") {
  Rig rig;
  rig.cycle->machine.to(State::Draining);
  rig.cycle->answerBeforeRequest(ProxyError::RequestTimeout, "too slow");
  CHECK(rig.cycle->calls.empty());
  CHECK(rig.cycle->lastRecord().status == 0);
  rig.cycle->machine.close(ConnectionEnd::ClientClosed);
  rig.cycle->answerBeforeRequest(ProxyError::RequestTimeout, "too slow");
  CHECK(rig.cycle->calls.empty());
  CHECK(rig.cycle->lastRecord().status == 0);
}
