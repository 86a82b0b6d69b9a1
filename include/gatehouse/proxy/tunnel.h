#pragma once
// A symmetric byte pump between a client and an upstream stream (CONNECT, WebSocket).
// Backpressure: a side stops reading while the other side's write queue is above the high
// watermark. Half-close: EOF from one side becomes a shutdown of the other's write side while
// data keeps flowing the other way. The tunnel borrows the client stream (handing it back to
// its owner at the end) and owns the upstream stream.
//
// Bytes start out copied through the loop's read buffer. Once a tunnel has carried
// kSpliceAfterBytes and both streams are plain TCP with nothing queued, it hands both fds to a
// uv::SplicePump, which moves the rest inside the kernel. Short, interactive tunnels (and the
// thousands of idle ones an egress proxy holds) never pay for pipes or extra watchers.

#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/uv/splice_pump.h"
#include "gatehouse/uv/tcp.h"

namespace gatehouse::proxy {

class Tunnel;
struct ExchangeRecord;

// How a tunnel ended.
struct TunnelEnd {
  enum class Reason { BothClosed, ClientError, UpstreamError };
  Reason reason = Reason::BothClosed;
  std::string detail;
};

// Writes a tunnel's end into its record: the bytes it moved each way, and who ended it when a
// side failed (the upstream: 'S', the client: 'C'); both sides closing is a normal end.
void recordTunnelEnd(ExchangeRecord& record, uint64_t fromClient, uint64_t toClient,
                     TunnelEnd::Reason reason);

class TunnelEvents {
public:
  virtual ~TunnelEvents() = default;
  // The tunnel is over; the upstream stream is closing and the client stream's handler is
  // the owner's again. The owner closes the client stream.
  virtual void onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) = 0;
};

class Tunnel final : uv::StreamHandler, uv::SplicePumpEvents {
public:
  // Bytes a tunnel carries by copying before it tries to switch to splicing.
  static constexpr uint64_t kSpliceAfterBytes = 128 * 1024;

  // `clientOwner` gets the client stream's events back when the tunnel ends. `splice`
  // allows switching bulk transfers to splice(2).
  Tunnel(uv::TcpStream* client, uv::StreamHandler* clientOwner, uv::TcpStream* upstream,
         TunnelEvents* events, bool splice);
  ~Tunnel() override;

  // Starts pumping. `toUpstream` and `toClient` are bytes already read that belong to the
  // tunnel (for example a TLS ClientHello sent right after the CONNECT head).
  void start(std::string_view toUpstream, std::string_view toClient);
  // Ends the tunnel now (idle timeout, shutdown).
  void abort(std::string detail);

  uint64_t bytesFromClient() const { return fromClient_; }
  uint64_t bytesToClient() const { return toClient_; }
  uint64_t lastActivity() const { return lastActivity_; }
  bool ended() const { return ended_; }
  // Whether the tunnel switched to splicing at some point.
  bool spliced() const { return spliced_; }

private:
  // Per direction: the side bytes come from.
  struct Side {
    uv::TcpStream* stream = nullptr;
    bool eof = false;          // the peer finished sending
    bool shutdownDone = false; // our FIN toward this side is out
  };

  Side& sideOf(uv::TcpStream& stream) { return &stream == client_.stream ? client_ : upstream_; }
  Side& otherOf(uv::TcpStream& stream) { return &stream == client_.stream ? upstream_ : client_; }
  void forward(Side& from, Side& to, std::string_view data);
  void finish(TunnelEnd end);
  void maybeFinish();
  void maybeSplice();

  void onPumpMoved(uv::PumpSide from, size_t bytes) override;
  void onPumpFinished() override;
  void onPumpFailed(uv::PumpSide side, bool whileReading, int status) override;

  void onStreamRead(uv::TcpStream& stream, std::string_view data) override;
  void onStreamReadEnd(uv::TcpStream& stream, int status) override;
  void onStreamWriteError(uv::TcpStream& stream, int status) override;
  void onStreamDrained(uv::TcpStream& stream) override;
  void onStreamShutdown(uv::TcpStream& stream, int status) override;

  Side client_;
  Side upstream_;
  uv::StreamHandler* clientOwner_;
  TunnelEvents* events_;
  uint64_t fromClient_ = 0;
  uint64_t toClient_ = 0;
  uint64_t lastActivity_ = 0;
  uv::SplicePump* pump_ = nullptr; // set while the kernel moves the bytes
  bool spliceAllowed_;
  bool spliced_ = false;
  bool ended_ = false;
};

} // namespace gatehouse::proxy
