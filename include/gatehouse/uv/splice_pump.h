#pragma once
// Moves a tunnel's bytes between two plain TCP streams with splice(2) through a kernel pipe, so
// bulk data never crosses into user space (two copies fewer per byte than read + write).
//
// libuv 1.44 has no splice, and an fd may have only one watcher on a loop. Taking over is
// therefore allowed only while both streams are quiet as far as libuv knows: not reading, no
// queued write, no connect or shutdown pending (TcpStream::canHandOff). The pump then watches
// both fds with its own uv_poll_t handles and does every read, write and half-close itself.
// The streams keep their handles and are closed by their owners as usual, after the pump is
// closed (closing the pump first removes its watchers, so the fds can be closed safely).
//
// Pipes come from a small per-loop pool and go back as soon as they are empty, so an idle
// tunnel holds no pipe.

#include <cstddef>
#include <cstdint>
#include <string>

namespace gatehouse::uv {

class Loop;
class TcpStream;

// Which stream a pump event is about.
enum class PumpSide { First, Second };

// What a pump reports to its owner, on the loop thread.
class SplicePumpEvents {
public:
  virtual ~SplicePumpEvents() = default;
  // `bytes` left the pipe toward the other side, having been read from `from`.
  virtual void onPumpMoved(PumpSide from, size_t bytes) = 0;
  // Both directions finished (each read EOF and passed the half-close on).
  virtual void onPumpFinished() = 0;
  // Reading from or writing to `side` failed with a negative errno-style libuv code.
  virtual void onPumpFailed(PumpSide side, bool whileReading, int status) = 0;
};

// Create with start(); end with close(), after which no event is reported. Frees itself once
// its poll handles have closed.
class SplicePump {
public:
  // Takes over both streams' I/O; null (and nothing changed) when either stream cannot be
  // handed off or the kernel refuses (no pipe, fd already watched).
  static SplicePump* start(Loop& loop, TcpStream& first, TcpStream& second,
                           SplicePumpEvents* events);
  // Stops watching both fds now; safe inside any pump event.
  void close();

protected:
  SplicePump() = default;
  ~SplicePump() = default;
};

// Pipes ready for splicing, per loop. Only empty pipes are kept.
class PipePool {
public:
  // A pipe (read end, write end) with its capacity raised where the kernel allows.
  struct Pipe {
    int readFd = -1;
    int writeFd = -1;
    bool valid() const { return readFd >= 0; }
  };
  static constexpr size_t kMaxIdle = 16;
  static constexpr int kCapacity = 256 * 1024;

  PipePool() = default;
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // An empty pipe, or an invalid one when pipe2() fails (fd limit).
  Pipe acquire();
  // Gives back an empty pipe; pipes beyond kMaxIdle are closed.
  void release(Pipe pipe);
  // Closes a pipe that may still hold bytes.
  static void destroy(Pipe pipe);
  size_t idleCount() const { return idleCount_; }
  uint64_t created() const { return created_; }

private:
  Pipe idle_[kMaxIdle];
  size_t idleCount_ = 0;
  uint64_t created_ = 0;
};

} // namespace gatehouse::uv
