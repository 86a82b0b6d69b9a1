#pragma once
// A TCP connection on a Loop, behind an ownership rule the rest of the proxy can rely on:
//  - TcpStream objects live on the heap and free themselves in libuv's close callback;
//    owners call close() and learn of the end through StreamHandler::onStreamClosed.
//  - After close() no handler method but onStreamClosed is called.
//  - Queued writes own a copy of their bytes until libuv's write callback.

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "gatehouse/uv/socket_address.h"
#include "gatehouse/uv/stream_filter.h"

namespace gatehouse::uv {

class Loop;
class TcpStream;

// Receives one stream's events on the loop thread. The stream outlives each call.
class StreamHandler {
public:
  virtual ~StreamHandler() = default;
  // Bytes read; `data` points into the loop's shared read buffer and is valid only during the call.
  virtual void onStreamRead(TcpStream& stream, std::string_view data) = 0;
  // The peer finished sending (status == kEof), the socket ended before a filter's closing
  // message (kEofTruncated: TLS without close_notify), or reading failed (negative libuv error).
  virtual void onStreamReadEnd(TcpStream& stream, int status) = 0;
  // An outgoing connect finished: 0 or a negative libuv error.
  virtual void onStreamConnected(TcpStream& stream, int status) {}
  // A queued write failed; the stream is unusable for writing.
  virtual void onStreamWriteError(TcpStream& stream, int status) {}
  // The write queue fell to the low watermark after notifyWhenDrained() was asked for.
  virtual void onStreamDrained(TcpStream& stream) {}
  // A shutdown() completed: every queued byte was handed to the kernel and FIN sent.
  virtual void onStreamShutdown(TcpStream& stream, int status) {}
  // The stream's filter failed (TLS handshake or record error, or plain text where TLS was
  // expected). The default treats it as a read error.
  virtual void onStreamFilterFailed(TcpStream& stream, FilterStatus status,
                                    const std::string& detail);
  // The handle is closed; the stream is freed right after this returns.
  virtual void onStreamClosed(TcpStream& stream) {}
};

// What TcpStream::spliceTo did.
struct SpliceResult {
  uint64_t moved = 0; // bytes taken from the source socket (all handed to the destination)
  int readError = 0;  // reading the source failed (negative libuv error); it is unusable
  int writeError = 0; // writing the destination failed; bytes still in flight were dropped
};

// One TCP socket. Create with create(); never delete: close() it.
class TcpStream {
public:
  // Queued bytes above which producers should stop reading their source (backpressure).
  static constexpr size_t kHighWatermark = 256 * 1024;
  // Queue size at which onStreamDrained fires.
  static constexpr size_t kLowWatermark = 64 * 1024;

  static TcpStream* create(Loop& loop);

  Loop& loop() const;
  void setHandler(StreamHandler* handler);

  // Accepts a pending connection from a listening server handle (src/uv only).
  int acceptFrom(void* serverStream);
  int connect(const SocketAddress& address);
  int startRead();
  void stopRead();

  // Writes the buffers in order: tries an immediate write, queues a copy of what is left.
  // Returns 0 or a negative libuv error (the stream is then unusable).
  int write(std::string_view data);
  int write(std::initializer_list<std::string_view> buffers);
  size_t writeQueueSize() const;
  bool aboveHighWatermark() const { return writeQueueSize() > kHighWatermark; }
  // Asks for one onStreamDrained once the queue is at or below kLowWatermark.
  void notifyWhenDrained();

  // Half-closes after queued writes; onStreamShutdown reports completion.
  int shutdown();
  // Closes the handle; idempotent. A reset sends RST instead of FIN.
  void close();
  void closeWithReset();

  // From now on reads deliver the filter's decoded bytes and writes go through it (TLS).
  // A stream with a filter is never spliced nor handed off: its bytes need the filter.
  void setFilter(std::unique_ptr<StreamFilter> filter);
  // Back to raw bytes (to answer plain HTTP sent to a TLS port in plain text).
  void removeFilter();
  // The filter, or null for plain TCP (tls::sessionOf() gives the TLS session).
  StreamFilter* filter() const;

  void setNoDelay(bool enabled);
  // The peer's address, or the one setPeerAddress() gave.
  SocketAddress peerAddress() const;
  // Reports `address` as the peer from now on (the client a PROXY protocol header named).
  void setPeerAddress(const SocketAddress& address);
  // Copies up to `size` bytes waiting in the socket without consuming them (plain TCP only):
  // the count, 0 when none is waiting, or a negative libuv error.
  int peek(char* buffer, size_t size) const;

  // At most `bytes` per read (0: the loop buffer's size). A small read for a response head
  // leaves its body in the socket, where spliceTo() can move it without copying.
  void setReadLimit(size_t bytes);
  // Moves up to `max` bytes already waiting in this socket to `dest` with splice(2) through a
  // pooled pipe, synchronously and without waiting: stops when this socket has nothing more.
  // Only between unfiltered streams and while `dest` has nothing queued (else moves nothing);
  // what `dest` cannot take at once joins its write queue (one copy), so order is kept.
  SpliceResult spliceTo(TcpStream& dest, uint64_t max);
  // Whether spliceTo() may write into this stream now: no filter, open, nothing queued.
  bool canReceiveSplice() const;

  // True while libuv has nothing in flight on this stream (no queued write, connect or
  // shutdown) and it has no filter: another watcher (SplicePump) may then take its fd.
  bool canHandOff() const;
  // The socket's fd (-1 once closing), for src/uv only.
  int fileDescriptor() const;

protected:
  TcpStream() = default;
  ~TcpStream() = default;
};

namespace testing {

// Test-only fault injection: the next `count` TcpStream::write() calls in this process (any
// stream, any thread) fail at once with `status`, a negative libuv error, and write nothing,
// as uv_write does for a stream that is no longer writable (UV_EPIPE after a shutdown,
// UV_EBADF while closing). libuv never calls back for such a write, so this exercises the
// callers' handling of an immediate failure. Costs one relaxed atomic load per write when
// unused; never called outside tests.
void failNextWrites(int count, int status);

} // namespace testing

} // namespace gatehouse::uv
