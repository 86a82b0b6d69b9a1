#include "gatehouse/proxy/proxy_protocol_reader.h"

#include <string>

#include "gatehouse/log/log.h"
#include "gatehouse/proxy/proxy_protocol.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::proxy {

// One stream waiting for its header. Owns the stream until the handover, and a timer; frees
// itself once what it still owns has closed.
class ProxyHeaderReader final : uv::StreamHandler, uv::TimerHandler {
public:
  ProxyHeaderReader(ProxyHeaderReaders& owner, uv::TcpStream* stream,
                    ProxyHeaderReaders::Ready ready)
      : owner_(owner), stream_(stream), timer_(uv::Timer::create(owner.loop_, this)),
        ready_(std::move(ready)) {
    owner_.readers_.insert(this);
  }

  void begin() {
    stream_->setHandler(this);
    // Enough to tell v1 from v2; every later read is sized so it ends at the header's end.
    stream_->setReadLimit(kProxyDetectLength);
    timer_->start(owner_.timeoutMs_);
    if (int rc = stream_->startRead(); rc != 0) {
      refuse(std::string("read failed: ") + uv::errorName(rc));
    }
  }

  // Closes the stream and the timer (refusal, timeout, shutdown).
  void refuse(const std::string& why) {
    if (done_) {
      return;
    }
    done_ = true;
    log::diag().info("PROXY protocol: refused a connection from {}: {}",
                     stream_->peerAddress().toString(), why);
    owner_.readers_.erase(this);
    stream_->close(); // onStreamClosed
    timer_->close();  // onTimerClosed
  }

private:
  void onStreamRead(uv::TcpStream& stream, std::string_view data) override {
    if (done_) {
      return;
    }
    header_.append(data);
    // Look at what is already waiting (without taking it) to see where the header ends.
    char peeked[kProxyV1MaxLength];
    std::string view = header_;
    if (header_.size() < kProxyV1MaxLength) {
      int n = stream.peek(peeked, kProxyV1MaxLength - header_.size());
      if (n > 0) {
        view.append(peeked, static_cast<size_t>(n));
      }
    }
    ProxyParse parse = parseProxyHeader(view);
    switch (parse.status) {
    case ProxyParse::Status::Invalid:
      refuse(parse.error);
      return;
    case ProxyParse::Status::Done:
      if (parse.header.length == header_.size()) {
        handOver(parse.header);
        return;
      }
      stream.setReadLimit(parse.header.length - header_.size()); // exactly the rest
      return;
    case ProxyParse::Status::NeedMore:
      // v2 knows its length; v1 has no CRLF in what is waiting, so taking it all is safe.
      if (parse.needAtLeast > header_.size() && header_[0] != 'P') {
        stream.setReadLimit(parse.needAtLeast - header_.size());
      } else {
        stream.setReadLimit(view.size() > header_.size() ? view.size() - header_.size() : 1);
      }
      return;
    }
  }

  void handOver(const ProxyHeader& header) {
    done_ = true;
    owner_.readers_.erase(this);
    stream_->stopRead();
    stream_->setReadLimit(0);
    if (header.source) {
      stream_->setPeerAddress(*header.source);
    }
    uv::TcpStream* stream = stream_;
    stream_ = nullptr;
    timer_->close();
    ready_(stream); // sets its own handler and starts reading
  }

  void onStreamReadEnd(uv::TcpStream&, int status) override {
    refuse(status == uv::kEof ? "closed before a complete header"
                              : std::string("read failed: ") + uv::errorName(status));
  }
  void onStreamClosed(uv::TcpStream&) override {
    stream_ = nullptr;
    maybeFree();
  }
  void onTimer(uv::Timer&) override { refuse("no complete header in time"); }
  void onTimerClosed(uv::Timer&) override {
    timer_ = nullptr;
    maybeFree();
  }
  void maybeFree() {
    if (stream_ == nullptr && timer_ == nullptr) {
      delete this;
    }
  }

  ProxyHeaderReaders& owner_;
  uv::TcpStream* stream_;
  uv::Timer* timer_;
  ProxyHeaderReaders::Ready ready_;
  std::string header_; // the bytes read so far, all of them header
  bool done_ = false;
  friend class ProxyHeaderReaders;
};

ProxyHeaderReaders::ProxyHeaderReaders(uv::Loop& loop, uint64_t timeoutMs, size_t maxPending)
    : loop_(loop), timeoutMs_(timeoutMs), maxPending_(maxPending) {}

ProxyHeaderReaders::~ProxyHeaderReaders() = default;

void ProxyHeaderReaders::start(uv::TcpStream* stream, Ready ready) {
  auto* reader = new ProxyHeaderReader(*this, stream, std::move(ready));
  if (readers_.size() > maxPending_) {
    reader->refuse("too many connections waiting for their header");
    return;
  }
  reader->begin();
}

void ProxyHeaderReaders::closeAll() {
  std::unordered_set<ProxyHeaderReader*> all = readers_; // refuse() erases
  for (ProxyHeaderReader* reader : all) {
    reader->refuse("shutting down");
  }
}

} // namespace gatehouse::proxy
