#pragma once
// Connections on a proxy_protocol listener start with a PROXY v1/v2 header from the load
// balancer. These readers take each such stream before ClientConnection does, read exactly
// the header (never a byte of the request after it), set the stream's peer address to the
// client it names, and hand the stream on; without a valid header in time, the connection is
// closed. The parsing itself is in proxy_protocol.h.

#include <cstdint>
#include <functional>
#include <unordered_set>

namespace gatehouse::uv {
class Loop;
class TcpStream;
} // namespace gatehouse::uv

namespace gatehouse::proxy {

class ProxyHeaderReader;

// The readers of one worker loop.
class ProxyHeaderReaders {
public:
  // `ready` gets each stream whose header was read (then owns it).
  using Ready = std::function<void(uv::TcpStream* stream)>;
  ProxyHeaderReaders(uv::Loop& loop, uint64_t timeoutMs, size_t maxPending);
  ~ProxyHeaderReaders();
  // Takes ownership of an accepted stream.
  void start(uv::TcpStream* stream, Ready ready);
  // Closes every stream still waiting for its header (worker shutdown).
  void closeAll();
  size_t pending() const { return readers_.size(); }
  void setTimeoutMs(uint64_t timeoutMs) { timeoutMs_ = timeoutMs; }

private:
  friend class ProxyHeaderReader;
  uv::Loop& loop_;
  uint64_t timeoutMs_;
  size_t maxPending_;
  std::unordered_set<ProxyHeaderReader*> readers_;
};

} // namespace gatehouse::proxy
