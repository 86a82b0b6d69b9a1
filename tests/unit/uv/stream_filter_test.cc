// A TcpStream with a StreamFilter (src/uv/tcp.cc), shown with a toy filter instead of TLS: the
// transport's side of the contract holds whatever the filter is. Bytes pass through it both
// ways; an EOF before the filter's closing message is kEofTruncated, one after it kEof; a
// filter failure reaches onStreamFilterFailed; a filtered stream is never spliced.

#include <catch2/catch.hpp>
#include <cctype>
#include <functional>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatehouse/uv/listen_socket.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/stream_filter.h"
#include "gatehouse/uv/tcp.h"

using namespace gatehouse::uv;

namespace {

// Upper-cases what it receives and lower-cases what it sends. '!' is its closing message, and
// a first byte '#' is not its protocol.
class ShoutFilter final : public StreamFilter {
public:
  FilterStatus receive(std::string_view wire, std::string& plain, std::string&) override {
    if (first_ && !wire.empty() && wire[0] == '#') {
      error_ = "not shouting";
      return FilterStatus::WrongProtocol;
    }
    first_ = false;
    for (char c : wire) {
      if (c == '!') {
        return FilterStatus::Closed;
      }
      plain += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return FilterStatus::Ok;
  }
  FilterStatus send(std::string_view plain, std::string& out) override {
    for (char c : plain) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return FilterStatus::Ok;
  }
  void shutdown(std::string& out) override { out += '!'; }
  const std::string& error() const override { return error_; }

private:
  bool first_ = true;
  std::string error_;
};

// Records what the stream reports; closes it at the end of input (so the loop run ends).
struct Recorder final : StreamHandler {
  std::string read;
  int endStatus = 0;
  FilterStatus failure = FilterStatus::Ok;
  std::string failureDetail;
  std::string sendOnConnect; // written (through the filter) once connected, then shut down
  bool closed = false;

  void onStreamConnected(TcpStream& stream, int status) override {
    REQUIRE(status == 0);
    if (!sendOnConnect.empty()) {
      CHECK(stream.write(sendOnConnect) == 0);
      CHECK(stream.shutdown() == 0);
    }
    CHECK(stream.startRead() == 0);
  }
  void onStreamRead(TcpStream&, std::string_view data) override { read.append(data); }
  void onStreamReadEnd(TcpStream& stream, int status) override {
    endStatus = status;
    stream.close();
  }
  void onStreamFilterFailed(TcpStream& stream, FilterStatus status,
                            const std::string& detail) override {
    failure = status;
    failureDetail = detail;
    stream.close();
  }
  void onStreamClosed(TcpStream& stream) override {
    closed = true;
    stream.loop().requestStop(); // its wake-up handle is what keeps run() going
  }
};

// A listener on 127.0.0.1:0 through which the test plays the stream's peer.
struct Peer {
  int listenFd = -1;
  int fd = -1;
  SocketAddress address;
  Peer() {
    std::vector<int> fds = openListenSockets(loopbackAny(), 1, 4);
    listenFd = fds.front();
    address = boundAddress(listenFd);
  }
  ~Peer() {
    if (fd >= 0) {
      ::close(fd);
    }
    ::close(listenFd);
  }
  // Waits for the stream's connection (the kernel completes it without the loop running).
  void accept() {
    pollfd p{listenFd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10'000) == 1);
    fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(fd >= 0);
  }
  void send(std::string_view bytes) {
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  std::string readToEnd() {
    std::string all;
    char buf[256];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      all.append(buf, static_cast<size_t>(n));
    }
    return all;
  }
  static SocketAddress loopbackAny() {
    SocketAddress a;
    SocketAddress::fromNumeric("127.0.0.1", 0, a);
    return a;
  }
};

// Connects a filtered stream to `peer`, lets `script` act as the peer, then runs the loop
// until the stream has closed.
void run(Peer& peer, Recorder& recorder, const std::function<void()>& script) {
  Loop loop;
  TcpStream* stream = TcpStream::create(loop);
  stream->setHandler(&recorder);
  stream->setFilter(std::make_unique<ShoutFilter>());
  REQUIRE(stream->connect(peer.address) == 0);
  peer.accept();
  script();
  loop.run();
  CHECK(recorder.closed);
}

} // namespace

TEST_CASE("a filtered stream's bytes pass through its filter both ways") {
  Peer peer;
  Recorder recorder;
  recorder.sendOnConnect = "Quiet Words";
  run(peer, recorder, [&] {
    peer.send("loud words!");
    ::shutdown(peer.fd, SHUT_WR);
  });
  CHECK(recorder.read == "LOUD WORDS");
  CHECK(recorder.endStatus == kEof); // the filter's closing message came first
  // What the stream wrote went through send() and its shutdown through shutdown().
  CHECK(peer.readToEnd() == "quiet words!");
}

TEST_CASE("an EOF before the filter's closing message is reported as truncation") {
  Peer peer;
  Recorder recorder;
  run(peer, recorder, [&] {
    peer.send("cut sho");
    ::shutdown(peer.fd, SHUT_WR); // a bare FIN, no '!'
  });
  CHECK(recorder.read == "CUT SHO");
  CHECK(recorder.endStatus == kEofTruncated);
  CHECK(std::string(errorName(kEofTruncated)) == "EOF_WITHOUT_CLOSE_NOTIFY");
}

TEST_CASE("a filter that does not recognise its peer fails the stream with its reason") {
  Peer peer;
  Recorder recorder;
  run(peer, recorder, [&] { peer.send("#not this protocol"); });
  CHECK(recorder.failure == FilterStatus::WrongProtocol);
  CHECK(recorder.failureDetail == "not shouting");
  CHECK(recorder.read.empty());
}

TEST_CASE("a stream with a filter is neither spliced into nor handed off - without, it is") {
  Loop loop;
  TcpStream* stream = TcpStream::create(loop);
  CHECK(stream->canReceiveSplice());
  stream->setFilter(std::make_unique<ShoutFilter>());
  CHECK(stream->filter() != nullptr);
  CHECK_FALSE(stream->canReceiveSplice());
  CHECK_FALSE(stream->canHandOff());
  stream->removeFilter();
  CHECK(stream->filter() == nullptr);
  CHECK(stream->canReceiveSplice());
  stream->close();
}
