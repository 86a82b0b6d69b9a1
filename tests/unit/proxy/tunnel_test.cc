// Tunnel alone (src/proxy/tunnel.cc), on a real loop with two loopback TCP connections: the
// test plays the client and the origin at the far ends, the tunnel pumps between the near
// ends. Bytes both ways (copied and spliced), a half-close in each direction that leaves the
// other flowing, backpressure that keeps the tunnel's queue bounded, the idle ending the
// connection would choose (connection_deadlines.h), and the TunnelEnd and byte counts a
// reset on either side, or a write that fails at once (uv::testing::failNextWrites), records.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <functional>
#include <memory>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "gatehouse/proxy/connection_deadlines.h"
#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/tunnel.h"
#include "gatehouse/uv/listen_socket.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

using namespace gatehouse;
using proxy::Tunnel;
using proxy::TunnelEnd;
using uv::TcpStream;

namespace {

// Checkable bytes: a period that is no power of two, so a lost or repeated block shows.
std::string pattern(size_t size, size_t offset = 0) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>('a' + (offset + i) % 23);
  }
  return out;
}

// One far end the test plays (the client, or the origin), on the tunnel's loop. Reads from
// the start; every event calls `changed`, the scenario's next step.
struct Endpoint final : uv::StreamHandler {
  TcpStream* stream = nullptr; // null once closed (the stream frees itself then)
  std::string received;
  int endStatus = 0; // 0 while reading; kEof or a libuv error once reading ended
  int writeError = 0;
  std::function<void()> changed;

  void onStreamRead(TcpStream&, std::string_view data) override {
    received.append(data);
    changed();
  }
  void onStreamReadEnd(TcpStream&, int status) override {
    endStatus = status;
    changed();
  }
  void onStreamWriteError(TcpStream&, int status) override {
    writeError = status;
    changed();
  }
  void onStreamClosed(TcpStream&) override {
    stream = nullptr;
    changed();
  }
  void close() {
    if (stream != nullptr) {
      stream->close(); // idempotent until the close callback
    }
  }
};

// A one-shot uv::Timer running a function; the rig owns and closes it.
struct Ticker final : uv::TimerHandler {
  std::function<void(uv::Timer&)> fire;
  uv::Timer* timer = nullptr;
  void onTimer(uv::Timer& t) override { fire(t); }
};

// Two loopback connections and a tunnel between their near ends:
//   client (test) <-> clientSide == Tunnel == upstreamSide <-> origin (test)
// run() connects both, starts the tunnel and then calls the scenario after every event until
// it calls finish(). A scenario that hangs fails after 20 s instead of blocking ctest.
class Rig final : uv::StreamHandler, proxy::TunnelEvents {
public:
  // `smallBuffers` shrinks every socket's kernel buffers, so that backpressure is reached
  // after a few hundred KiB instead of after what loopback autotuning would absorb.
  explicit Rig(bool splice, bool smallBuffers = false)
      : splice_(splice), smallBuffers_(smallBuffers) {
    uv::SocketAddress loopback;
    REQUIRE(uv::SocketAddress::fromNumeric("127.0.0.1", 0, loopback));
    Endpoint* far[2] = {&client, &origin};
    for (int i = 0; i < 2; ++i) {
      listenFds_[i] = uv::openListenSocket(loopback, 4);
      acceptors_[i] = uv::Acceptor::create(loop, listenFds_[i], [this, i, far](TcpStream* s, int) {
        CHECK(s != nullptr);
        if (s != nullptr) {
          far[i]->stream = s;
          s->setHandler(far[i]);
          CHECK(s->startRead() == 0);
          ready();
        }
      });
      near_[i] = TcpStream::create(loop);
      near_[i]->setHandler(this);
      REQUIRE(near_[i]->connect(uv::boundAddress(listenFds_[i])) == 0);
    }
    clientSide = near_[0];
    upstreamSide = near_[1];
    client.changed = [this] { step(); };
    origin.changed = [this] { step(); };
  }
  ~Rig() override {
    for (int fd : listenFds_) {
      ::close(fd);
    }
  }

  void run(std::function<void()> scenario) {
    scenario_ = std::move(scenario);
    after(20'000, [this](uv::Timer&) {
      FAIL_CHECK("the scenario did not finish within 20 s");
      finish();
    });
    loop.run();
  }

  // Ends everything still open (the tunnel first) and lets run() return once all has closed.
  void finish() {
    if (done_) {
      return;
    }
    done_ = true;
    if (tunnel && !tunnel->ended()) {
      tunnel->abort("test over"); // onTunnelEnded closes the client side
    } else if (!tunnel) {
      clientSide->close();
      upstreamSide->close();
    }
    client.close();
    origin.close();
    for (uv::Acceptor* a : acceptors_) {
      a->close();
    }
    for (auto& t : tickers_) {
      t->timer->close();
    }
    loop.requestStop();
  }

  // Runs `fn` after `ms`, and again each time `fn` re-arms the timer it is given.
  void after(uint64_t ms, std::function<void(uv::Timer&)> fn) {
    auto ticker = std::make_unique<Ticker>();
    ticker->fire = [this, fn = std::move(fn)](uv::Timer& timer) {
      if (!done_) {
        fn(timer);
      }
    };
    ticker->timer = uv::Timer::create(loop, ticker.get());
    ticker->timer->start(ms);
    tickers_.push_back(std::move(ticker));
  }
  uv::Loop loop;
  Endpoint client;
  Endpoint origin;
  TcpStream* clientSide = nullptr;   // the tunnel's, toward the client
  TcpStream* upstreamSide = nullptr; // the tunnel's, toward the origin
  std::unique_ptr<Tunnel> tunnel;
  std::optional<TunnelEnd> end;
  uint64_t endFromClient = 0; // the tunnel's counts when it ended
  uint64_t endToClient = 0;
  std::string earlyToUpstream; // bytes handed to start(), as after a CONNECT head
  std::string earlyToClient;

private:
  void step() {
    if (!done_ && tunnel) {
      scenario_();
    }
  }
  // Two accepts and two connects, then the tunnel starts.
  void ready() {
    if (--pending_ != 0) {
      return;
    }
    if (smallBuffers_) {
      for (TcpStream* s : {clientSide, upstreamSide, client.stream, origin.stream}) {
        const int size = 32 * 1024;
        const int fd = s->fileDescriptor();
        CHECK(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0);
        CHECK(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0);
      }
    }
    uv::StreamHandler* owner = this;
    proxy::TunnelEvents* events = this;
    tunnel = std::make_unique<Tunnel>(clientSide, owner, upstreamSide, events, splice_);
    tunnel->start(earlyToUpstream, earlyToClient);
    step();
  }

  // The near ends before the tunnel (connect) and the client side after it (close).
  void onStreamConnected(TcpStream&, int status) override {
    CHECK(status == 0);
    ready();
  }
  void onStreamRead(TcpStream&, std::string_view) override {}
  void onStreamReadEnd(TcpStream&, int) override {}
  void onStreamClosed(TcpStream& stream) override {
    if (&stream == clientSide) {
      clientSide = nullptr;
    }
  }
  // As ClientConnection does: the record takes the counts, then the owner closes its side.
  void onTunnelEnded(Tunnel& t, const TunnelEnd& e) override {
    end = e;
    endFromClient = t.bytesFromClient();
    endToClient = t.bytesToClient();
    upstreamSide = nullptr; // the tunnel closed it
    clientSide->close();
    step();
  }

  bool splice_;
  bool smallBuffers_;
  int listenFds_[2] = {-1, -1};
  uv::Acceptor* acceptors_[2] = {nullptr, nullptr};
  TcpStream* near_[2] = {nullptr, nullptr};
  int pending_ = 4;
  bool done_ = false;
  std::function<void()> scenario_;
  std::vector<std::unique_ptr<Ticker>> tickers_;
};

} // namespace

TEST_CASE("tunnel: bytes both ways, then FINs both ways end it", "[tunnel]") {
  // Above kSpliceAfterBytes, so with splicing allowed the kernel moves the rest.
  const bool splice = GENERATE(false, true);
  CAPTURE(splice);
  const std::string up = pattern(3 * Tunnel::kSpliceAfterBytes + 17);
  const std::string down = pattern(2 * Tunnel::kSpliceAfterBytes + 5, 7);
  Rig rig(splice);
  rig.earlyToUpstream = "early->"; // bytes read with the CONNECT head go first
  rig.earlyToClient = "<-early";
  int stage = 0;
  rig.run([&] {
    switch (stage) {
    case 0:
      CHECK(rig.client.stream->write(up) == 0);
      CHECK(rig.origin.stream->write(down) == 0);
      stage = 1;
      return;
    case 1:
      if (rig.origin.received.size() < 7 + up.size() ||
          rig.client.received.size() < 7 + down.size()) {
        return;
      }
      CHECK(rig.origin.received == "early->" + up);
      CHECK(rig.client.received == "<-early" + down);
      CHECK_FALSE(rig.tunnel->ended());
      CHECK(rig.client.stream->shutdown() == 0);
      CHECK(rig.origin.stream->shutdown() == 0);
      stage = 2;
      return;
    default:
      if (rig.end && rig.client.endStatus != 0 && rig.origin.endStatus != 0) {
        rig.finish();
      }
    }
  });
  REQUIRE(rig.end);
  CHECK(rig.end->reason == TunnelEnd::Reason::BothClosed);
  CHECK(rig.end->detail == "both sides closed");
  CHECK(rig.endFromClient == 7 + up.size());
  CHECK(rig.endToClient == 7 + down.size());
  CHECK(rig.client.endStatus == uv::kEof);
  CHECK(rig.origin.endStatus == uv::kEof);
}

TEST_CASE("tunnel: a FIN from one side reaches the other, the other direction keeps flowing",
          "[tunnel]") {
  const bool clientFirst = GENERATE(true, false);
  CAPTURE(clientFirst);
  Rig rig(false);
  Endpoint& first = clientFirst ? rig.client : rig.origin;  // half-closes first
  Endpoint& second = clientFirst ? rig.origin : rig.client; // answers after that FIN
  int stage = 0;
  rig.run([&] {
    switch (stage) {
    case 0:
      CHECK(first.stream->write("request") == 0);
      CHECK(first.stream->shutdown() == 0);
      stage = 1;
      return;
    case 1:
      if (second.endStatus == 0) {
        return;
      }
      // The FIN came through after the bytes; the tunnel is still open the other way.
      CHECK(second.endStatus == uv::kEof);
      CHECK(second.received == "request");
      CHECK_FALSE(rig.tunnel->ended());
      CHECK(second.stream->write("answer after the FIN") == 0);
      stage = 2;
      return;
    case 2:
      if (first.received.size() < 20) {
        return;
      }
      CHECK(first.received == "answer after the FIN");
      CHECK(first.endStatus == 0); // no FIN toward it yet
      CHECK_FALSE(rig.tunnel->ended());
      CHECK(second.stream->shutdown() == 0);
      stage = 3;
      return;
    default:
      if (rig.end && first.endStatus != 0) {
        rig.finish();
      }
    }
  });
  CHECK(stage == 3);
  REQUIRE(rig.end);
  CHECK(rig.end->reason == TunnelEnd::Reason::BothClosed);
  CHECK(first.endStatus == uv::kEof);
  CHECK(rig.endFromClient == (clientFirst ? 7u : 20u));
  CHECK(rig.endToClient == (clientFirst ? 20u : 7u));
}

TEST_CASE("tunnel: a side that stops reading pauses the other side, and nothing piles up",
          "[tunnel]") {
  const bool towardClient = GENERATE(true, false);
  CAPTURE(towardClient);
  // Copying: splicing would move the backpressure into the kernel.
  Rig rig(false, true);
  Endpoint& sender = towardClient ? rig.origin : rig.client;
  Endpoint& receiver = towardClient ? rig.client : rig.origin;
  TcpStream* queue = towardClient ? rig.clientSide : rig.upstreamSide; // the tunnel's writes
  auto moved = [&] {
    return towardClient ? rig.tunnel->bytesToClient() : rig.tunnel->bytesFromClient();
  };
  // One read of the loop buffer may land on a queue just under the high watermark.
  const size_t cap = TcpStream::kHighWatermark + uv::Loop::kReadBufferSize;
  const std::string payload = pattern(16 * 1024 * 1024);
  size_t maxQueued = 0;
  size_t senderHeld = 0; // what the sender still held when the tunnel stood still
  uint64_t lastMoved = 0;
  int still = 0;
  bool resumed = false;
  int stage = 0;
  rig.run([&] {
    switch (stage) {
    case 0:
      receiver.stream->stopRead();
      CHECK(sender.stream->write(payload) == 0);
      // Samples the tunnel's queue every ms until the end; resumes the receiver once the
      // tunnel has moved nothing for 20 samples while the sender still had bytes for it.
      // (The queue itself may sink below the high watermark meanwhile, as the kernel takes a
      // little more: the tunnel stays paused until it is at the low watermark.)
      rig.after(1, [&](uv::Timer& sampler) {
        if (rig.tunnel->ended()) {
          return;
        }
        maxQueued = std::max(maxQueued, queue->writeQueueSize());
        if (!resumed) {
          still = moved() == lastMoved && sender.stream->writeQueueSize() > 0 ? still + 1 : 0;
          lastMoved = moved();
          if (still == 20 || queue->writeQueueSize() > cap) { // (the latter: a quick failure)
            resumed = true;
            senderHeld = sender.stream->writeQueueSize();
            CHECK(receiver.stream->startRead() == 0);
          }
        }
        sampler.start(1);
      });
      stage = 1;
      return;
    case 1:
      if (receiver.received.size() < payload.size()) {
        return;
      }
      CHECK(receiver.received.size() == payload.size());
      CHECK((receiver.received == payload)); // not printed whole on failure
      CHECK(sender.stream->shutdown() == 0);
      CHECK(receiver.stream->shutdown() == 0);
      stage = 2;
      return;
    default:
      if (rig.end && rig.client.endStatus != 0 && rig.origin.endStatus != 0) {
        rig.finish();
      }
    }
  });
  CHECK(resumed);
  // The tunnel stopped reading the sender instead of taking its 16 MiB into memory ...
  CHECK(senderHeld > payload.size() / 2);
  // ... and its own queue stayed bounded while the receiver did not read.
  CHECK(maxQueued > TcpStream::kHighWatermark);
  CHECK(maxQueued <= cap);
  REQUIRE(rig.end);
  CHECK(rig.end->reason == TunnelEnd::Reason::BothClosed);
  CHECK((towardClient ? rig.endToClient : rig.endFromClient) == payload.size());
}

TEST_CASE("tunnel: idle for idle_timeout, the connection's deadline ends it", "[tunnel]") {
  // The deadline as ClientConnection computes it for Tunneling, at a short idle_timeout.
  const proxy::DeadlineLimits limits{
      .requestHeadTimeoutMs = 0, .idleTimeoutMs = 50, .dnsTimeoutMs = 0, .readTimeoutMs = 0};
  Rig rig(false);
  uint64_t lastActivity = 0;
  uint64_t endedAt = 0;
  auto clock = [&] {
    proxy::ConnectionClock c;
    c.state = proxy::ConnectionState::Tunneling;
    c.now = rig.loop.now();
    c.tunnelOpen = true;
    c.tunnelLastActivity = rig.tunnel->lastActivity();
    return c;
  };
  int stage = 0;
  rig.run([&] {
    switch (stage) {
    case 0:
      CHECK(rig.client.stream->write("x") == 0);
      CHECK(rig.origin.stream->write("yz") == 0);
      stage = 1;
      return;
    case 1: {
      if (rig.origin.received != "x" || rig.client.received != "yz") {
        return;
      }
      lastActivity = rig.tunnel->lastActivity();
      CHECK(lastActivity > 0);
      CHECK(proxy::nextDeadline(clock(), limits) == lastActivity + 50);
      // Armed and re-armed as the connection arms its timer for Tunneling.
      auto wait = [&] {
        const uint64_t at = proxy::nextDeadline(clock(), limits).value_or(0);
        return at > rig.loop.now() ? at - rig.loop.now() : 0;
      };
      rig.after(wait(), [&, wait](uv::Timer& idle) {
        proxy::Expiry e = proxy::expiredDeadline(clock(), limits);
        if (e.kind == proxy::Expiry::Kind::None) {
          idle.start(wait());
          return;
        }
        CHECK(e.kind == proxy::Expiry::Kind::TunnelIdle);
        endedAt = rig.loop.now();
        rig.tunnel->abort(e.detail);
      });
      stage = 2;
      return;
    }
    default:
      if (rig.end && rig.client.endStatus != 0 && rig.origin.endStatus != 0) {
        rig.finish();
      }
    }
  });
  REQUIRE(rig.end);
  CHECK(rig.end->reason == TunnelEnd::Reason::BothClosed);
  CHECK(rig.end->detail == "idle for 50 ms");
  CHECK(endedAt >= lastActivity + 50);
  CHECK(rig.endFromClient == 1);
  CHECK(rig.endToClient == 2);
  // Both far ends see an orderly close.
  CHECK(rig.client.endStatus == uv::kEof);
  CHECK(rig.origin.endStatus == uv::kEof);
}

TEST_CASE("tunnel: a reset on either side ends it with that side's error", "[tunnel]") {
  const bool clientResets = GENERATE(true, false);
  CAPTURE(clientResets);
  Rig rig(false);
  Endpoint& resetter = clientResets ? rig.client : rig.origin;
  Endpoint& other = clientResets ? rig.origin : rig.client;
  int stage = 0;
  rig.run([&] {
    switch (stage) {
    case 0:
      CHECK(rig.client.stream->write("abc") == 0);
      CHECK(rig.origin.stream->write("de") == 0);
      stage = 1;
      return;
    case 1:
      if (rig.origin.received != "abc" || rig.client.received != "de") {
        return;
      }
      resetter.stream->closeWithReset();
      stage = 2;
      return;
    default:
      if (rig.end && other.endStatus != 0) {
        rig.finish();
      }
    }
  });
  REQUIRE(rig.end);
  CHECK(rig.end->reason ==
        (clientResets ? TunnelEnd::Reason::ClientError : TunnelEnd::Reason::UpstreamError));
  CHECK(rig.end->detail == "read ECONNRESET");
  CHECK(rig.endFromClient == 3);
  CHECK(rig.endToClient == 2);
  if (clientResets) {
    // The origin is told the client vanished: a reset, not an orderly end.
    CHECK(std::string(uv::errorName(other.endStatus)) == "ECONNRESET");
  }
}

TEST_CASE("tunnel: a write that fails at once ends it with that side's error", "[tunnel]") {
  // libuv never calls back for a write that fails at once (defect 5): the tunnel has to end
  // itself. The failure is injected into its forward of the bytes read from `writer`.
  const bool towardUpstream = GENERATE(true, false);
  CAPTURE(towardUpstream);
  Rig rig(false);
  Endpoint& writer = towardUpstream ? rig.client : rig.origin;
  Endpoint& target = towardUpstream ? rig.origin : rig.client;
  int stage = 0;
  rig.run([&] {
    if (stage == 0) {
      CHECK(writer.stream->write("lost") == 0);
      // The next write in this process is the tunnel's forward of "lost".
      uv::testing::failNextWrites(1, -EPIPE);
      stage = 1;
      return;
    }
    if (rig.end && rig.client.endStatus != 0 && rig.origin.endStatus != 0) {
      rig.finish();
    }
  });
  uv::testing::failNextWrites(0, 0);
  REQUIRE(rig.end);
  CHECK(rig.end->reason ==
        (towardUpstream ? TunnelEnd::Reason::UpstreamError : TunnelEnd::Reason::ClientError));
  CHECK(rig.end->detail == "write EPIPE");
  CHECK(target.received.empty());
  CHECK(target.endStatus != 0); // both far ends see the tunnel go
}

TEST_CASE("tunnel: its end goes into the record with the bytes and who ended it", "[tunnel]") {
  using proxy::EndCause;
  proxy::ExchangeRecord record;
  record.bytesIn = 100; // the CONNECT head, counted before the tunnel
  proxy::recordTunnelEnd(record, 5'000, 70'000, TunnelEnd::Reason::BothClosed);
  CHECK(record.bytesIn == 5'100);
  CHECK(record.bytesOut == 70'000);
  CHECK(record.cause == EndCause::Normal);

  proxy::ExchangeRecord upstream;
  proxy::recordTunnelEnd(upstream, 1, 2, TunnelEnd::Reason::UpstreamError);
  CHECK(upstream.cause == EndCause::Upstream);
  CHECK(upstream.terminationCode()[0] == 'S');

  proxy::ExchangeRecord client;
  proxy::recordTunnelEnd(client, 1, 2, TunnelEnd::Reason::ClientError);
  CHECK(client.cause == EndCause::ClientAbort);
  CHECK(client.terminationCode()[0] == 'C');
}
