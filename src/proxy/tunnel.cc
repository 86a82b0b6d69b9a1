#include "gatehouse/proxy/tunnel.h"

#include "gatehouse/proxy/exchange_record.h"
#include "gatehouse/proxy/telemetry.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::proxy {

void recordTunnelEnd(ExchangeRecord& record, uint64_t fromClient, uint64_t toClient,
                     TunnelEnd::Reason reason) {
  record.bytesIn += fromClient;
  record.bytesOut += toClient;
  if (reason == TunnelEnd::Reason::UpstreamError) {
    record.cause = EndCause::Upstream;
  } else if (reason == TunnelEnd::Reason::ClientError) {
    record.cause = EndCause::ClientAbort;
  }
}

Tunnel::Tunnel(uv::TcpStream* client, uv::StreamHandler* clientOwner, uv::TcpStream* upstream,
               TunnelEvents* events, bool splice)
    : clientOwner_(clientOwner), events_(events), spliceAllowed_(splice) {
  client_.stream = client;
  upstream_.stream = upstream;
  // Created and destroyed on its worker's thread: the gauge of open tunnels.
  if (WorkerTelemetry* telemetry = currentTelemetry()) {
    telemetry->tunnelOpened();
  }
}

Tunnel::~Tunnel() {
  // The owner may drop a tunnel that never ended (shutdown): still release both streams, and
  // leave the gauge here (an ended tunnel left it in finish()).
  if (!ended_) {
    ended_ = true;
    if (WorkerTelemetry* telemetry = currentTelemetry()) {
      telemetry->tunnelClosed();
    }
    if (pump_) {
      pump_->close(); // its watchers go before the streams' fds do
    }
    upstream_.stream->setHandler(nullptr);
    upstream_.stream->close();
    client_.stream->setHandler(clientOwner_);
  }
}

void Tunnel::start(std::string_view toUpstream, std::string_view toClient) {
  lastActivity_ = client_.stream->loop().now();
  client_.stream->setHandler(this);
  upstream_.stream->setHandler(this);
  upstream_.stream->setNoDelay(true);
  if (!toUpstream.empty()) {
    forward(client_, upstream_, toUpstream);
  }
  if (!toClient.empty() && !ended_ && !pump_) {
    forward(upstream_, client_, toClient);
  }
  if (ended_ || pump_) {
    return;
  }
  if (!upstream_.stream->aboveHighWatermark()) {
    client_.stream->startRead();
  }
  if (!client_.stream->aboveHighWatermark()) {
    upstream_.stream->startRead();
  }
}

void Tunnel::forward(Side& from, Side& to, std::string_view data) {
  lastActivity_ = from.stream->loop().now();
  if (&from == &client_) {
    fromClient_ += data.size();
  } else {
    toClient_ += data.size();
  }
  if (int rc = to.stream->write(data); rc != 0) {
    finish({&to == &client_ ? TunnelEnd::Reason::ClientError : TunnelEnd::Reason::UpstreamError,
            std::string("write ") + uv::errorName(rc)});
    return;
  }
  if (to.stream->aboveHighWatermark()) {
    from.stream->stopRead();
    to.stream->notifyWhenDrained();
    return;
  }
  if (spliceAllowed_ && fromClient_ + toClient_ >= kSpliceAfterBytes) {
    maybeSplice();
  }
}

void Tunnel::maybeSplice() {
  // Half-closed tunnels stay as they are: the pump starts only with both directions open.
  if (client_.eof || upstream_.eof || !client_.stream->canHandOff() ||
      !upstream_.stream->canHandOff()) {
    return; // a write is still queued: try again on a later read
  }
  spliceAllowed_ = false; // one attempt that reaches the kernel is enough
  pump_ = uv::SplicePump::start(client_.stream->loop(), *client_.stream, *upstream_.stream, this);
  if (pump_ == nullptr) {
    // The pump stopped reading before it gave up; copy as before.
    client_.stream->startRead();
    upstream_.stream->startRead();
    return;
  }
  spliced_ = true;
}

void Tunnel::onPumpMoved(uv::PumpSide from, size_t bytes) {
  lastActivity_ = client_.stream->loop().now();
  if (from == uv::PumpSide::First) {
    fromClient_ += bytes;
  } else {
    toClient_ += bytes;
  }
}

void Tunnel::onPumpFinished() {
  finish({TunnelEnd::Reason::BothClosed, "both sides closed"});
}

void Tunnel::onPumpFailed(uv::PumpSide side, bool whileReading, int status) {
  pump_ = nullptr; // the pump closed itself before reporting
  finish({side == uv::PumpSide::First ? TunnelEnd::Reason::ClientError
                                      : TunnelEnd::Reason::UpstreamError,
          std::string(whileReading ? "read " : "write ") + uv::errorName(status)});
}

void Tunnel::onStreamRead(uv::TcpStream& stream, std::string_view data) {
  forward(sideOf(stream), otherOf(stream), data);
}

void Tunnel::onStreamReadEnd(uv::TcpStream& stream, int status) {
  Side& from = sideOf(stream);
  Side& to = otherOf(stream);
  // A TLS side that closed without close_notify (kEofTruncated) is passed on as a half-close
  // too: what a tunnel carries has its own framing (TLS inside, WebSocket frames), and a
  // reset would drop bytes still queued for the other side.
  if (status != uv::kEof && status != uv::kEofTruncated) {
    finish({&from == &client_ ? TunnelEnd::Reason::ClientError : TunnelEnd::Reason::UpstreamError,
            std::string("read ") + uv::errorName(status)});
    return;
  }
  from.eof = true;
  // Pass the half-close on once everything queued toward that side is written.
  if (int rc = to.stream->shutdown(); rc != 0) {
    to.shutdownDone = true;
  }
  maybeFinish();
}

void Tunnel::onStreamShutdown(uv::TcpStream& stream, int status) {
  sideOf(stream).shutdownDone = true;
  maybeFinish();
}

void Tunnel::maybeFinish() {
  if (client_.eof && upstream_.eof && client_.shutdownDone && upstream_.shutdownDone) {
    finish({TunnelEnd::Reason::BothClosed, "both sides closed"});
  }
}

void Tunnel::onStreamWriteError(uv::TcpStream& stream, int status) {
  finish({&stream == client_.stream ? TunnelEnd::Reason::ClientError
                                    : TunnelEnd::Reason::UpstreamError,
          std::string("write ") + uv::errorName(status)});
}

void Tunnel::onStreamDrained(uv::TcpStream& stream) {
  Side& reader = otherOf(stream);
  if (!reader.eof && !ended_) {
    reader.stream->startRead();
  }
}

void Tunnel::abort(std::string detail) {
  finish({TunnelEnd::Reason::BothClosed, std::move(detail)});
}

void Tunnel::finish(TunnelEnd end) {
  if (ended_) {
    return;
  }
  ended_ = true;
  if (pump_) {
    pump_->close(); // its watchers go before the streams' fds do
    pump_ = nullptr;
  }
  upstream_.stream->setHandler(nullptr);
  if (end.reason == TunnelEnd::Reason::ClientError) {
    upstream_.stream->closeWithReset(); // tell the upstream the client vanished
  } else {
    upstream_.stream->close();
  }
  client_.stream->stopRead();
  client_.stream->setHandler(clientOwner_);
  // The gauge drops when the tunnel ends, in the same turn as the record that counts it (the
  // object itself goes later, with its connection): a scrape never sees both.
  if (WorkerTelemetry* telemetry = currentTelemetry()) {
    telemetry->tunnelClosed();
  }
  events_->onTunnelEnded(*this, end);
}

} // namespace gatehouse::proxy
