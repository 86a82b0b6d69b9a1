#pragma once
// A symmetric byte pump between a client and an upstream stream (CONNECT, WebSocket).
// Backpressure: a side stops reading while the other side's write queue is above the high
// watermark. Half-close: EOF from one side becomes a shutdown of the other's write side while
// data keeps flowing the other way. The tunnel borrows the client stream (handing it back to
// its owner at the end) and owns the upstream stream.

#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/uv/tcp.h"

namespace gatehouse::proxy {

class Tunnel;

// How a tunnel ended.
struct TunnelEnd {
  enum class Reason { BothClosed, ClientError, UpstreamError };
  Reason reason = Reason::BothClosed;
  std::string detail;
};

class TunnelEvents {
public:
  virtual ~TunnelEvents() = default;
  // The tunnel is over; the upstream stream is closing and the client stream's handler is
  // the owner's again. The owner closes the client stream.
  virtual void onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) = 0;
};

class Tunnel final : uv::StreamHandler {
public:
  // `clientOwner` gets the client stream's events back when the tunnel ends.
  Tunnel(uv::TcpStream* client, uv::StreamHandler* clientOwner, uv::TcpStream* upstream,
         TunnelEvents* events);
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
  bool ended_ = false;
};

} // namespace gatehouse::proxy
