#pragma once
// An event loop and what every connection on it shares. Only src/uv/ includes <uv.h>;
// the rest of the proxy sees these opaque wrappers.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "gatehouse/uv/splice_pump.h"

namespace gatehouse::uv {

// libuv's end-of-stream status (UV_EOF), for code that does not include <uv.h>.
inline constexpr int kEof = -4095;
// End of stream before the stream filter's closing message (TLS close_notify): the peer or
// something between may have cut the data short. Below every libuv code; errorName() knows it.
inline constexpr int kEofTruncated = -4200;

// libuv's name for an error code ("ECONNREFUSED", "EOF"), and "EOF_WITHOUT_CLOSE_NOTIFY" for
// kEofTruncated.
const char* errorName(int status);

// One libuv loop, owned by one thread. Handles created on it must be closed before it is
// destroyed; run() returns once stop() was called and every handle has closed.
class Loop {
public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs until no handle is active.
  void run();
  // Thread-safe: asks the loop thread to call `onStop` once (then the owner closes its handles).
  void requestStop();
  // Sets what requestStop() and stop() run on the loop thread.
  void setStopHandler(std::function<void()> handler);
  // On the loop thread: closes the mailbox (so run() can return once the owner's handles are
  // closed) and runs the stop handler, once; later calls do nothing.
  void stop();
  // Thread-safe: runs `task` on the loop thread soon. Returns false (and drops the task) once
  // the loop stopped.
  bool post(std::function<void()> task);
  // Loop time in milliseconds, cached at the start of each iteration.
  uint64_t now() const;

  // A per-loop read buffer: every read lands here and is consumed before the callback
  // returns, so idle connections hold no buffer of their own.
  char* readBuffer() { return readBuffer_.get(); }
  // One per loop, so size is cheap: 256 KiB takes a 64 KiB response (head and body) in one
  // read and one write where 64 KiB needed two of each (+7% req/s in bench/http_rps.sh-style
  // runs with 64 KiB bodies).
  static constexpr size_t kReadBufferSize = 256 * 1024;

  // Empty pipes for splicing tunnels, reused across tunnels of this loop.
  PipePool& pipes() { return pipes_; }

  void* raw() const { return raw_; } // uv_loop_t*, for src/uv/ only

private:
  struct Mailbox; // tasks from other threads, woken by one uv_async_t
  void runPosted();

  void* raw_;
  std::unique_ptr<Mailbox> mailbox_;
  std::function<void()> stopHandler_;
  bool stopped_ = false;
  std::unique_ptr<char[]> readBuffer_;
  PipePool pipes_;
};

} // namespace gatehouse::uv
