#include "gatehouse/uv/splice_pump.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/tcp.h"
#include "socket_error.h"

namespace gatehouse::uv {

namespace {

struct PumpImpl;

// One fd the pump watches in place of its TcpStream.
struct FdWatch {
  uv_poll_t handle;
  PumpImpl* pump = nullptr;
  int fd = -1;
  int events = 0; // what uv_poll_start was last asked for (0: stopped)
};

// One direction: bytes read from watch[from] wait in `pipe` until written to watch[to].
struct Direction {
  int from = 0;
  int to = 1;
  PipePool::Pipe pipe;
  size_t inPipe = 0;
  size_t moved = 0;      // bytes written out since the last report
  bool eof = false;      // the source finished sending
  bool shutDown = false; // the half-close was passed on
};

struct PumpImpl final : SplicePump {
  Loop* loop = nullptr;
  SplicePumpEvents* events = nullptr;
  FdWatch watch[2];
  Direction dir[2]; // dir[0]: first -> second, dir[1]: second -> first
  int openHandles = 0;
  bool closed = false;
  bool finished = false;
};

constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// Fills per readable event before yielding to other connections (libuv reads up to 32).
constexpr int kFillsPerEvent = 8;

PumpSide sideOf(int index) {
  return index == 0 ? PumpSide::First : PumpSide::Second;
}

void onHandleClosed(uv_handle_t* handle) noexcept {
  auto* watch = static_cast<FdWatch*>(handle->data);
  PumpImpl* pump = watch->pump;
  if (--pump->openHandles == 0) {
    delete pump;
  }
}

void fail(PumpImpl* p, int watchIndex, bool whileReading, int status) {
  if (p->closed) {
    return;
  }
  SplicePumpEvents* events = p->events;
  size_t moved[2] = {p->dir[0].moved, p->dir[1].moved};
  p->close(); // stops every watcher before the owner hears of it
  // Bytes delivered before the failure still count (the access log's in= and out=).
  for (int i = 0; i < 2; ++i) {
    if (moved[i] > 0) {
      events->onPumpMoved(sideOf(p->dir[i].from), moved[i]);
    }
  }
  events->onPumpFailed(sideOf(watchIndex), whileReading, status);
}

// Writes the pipe out; false when the pump failed.
bool drain(PumpImpl* p, Direction& d) {
  while (d.inPipe > 0) {
    ssize_t n = splice(d.pipe.readFd, nullptr, p->watch[d.to].fd, nullptr, d.inPipe, kSpliceFlags);
    if (n > 0) {
      d.inPipe -= static_cast<size_t>(n);
      d.moved += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return true; // the peer's window is full: wait until writable
    }
    fail(p, d.to, false, n < 0 ? -errno : UV_EPIPE);
    return false;
  }
  // Empty: back to the pool, so a quiet tunnel holds no pipe.
  if (d.pipe.valid()) {
    p->loop->pipes().release(d.pipe);
    d.pipe = {};
  }
  return true;
}

// Reads from the source into an empty pipe and writes it out, a few rounds while the
// destination keeps up; false when the pump failed.
bool fill(PumpImpl* p, Direction& d) {
  for (int round = 0; round < kFillsPerEvent && !d.eof && d.inPipe == 0; ++round) {
    if (!d.pipe.valid()) {
      d.pipe = p->loop->pipes().acquire();
      if (!d.pipe.valid()) {
        fail(p, d.from, true, -errno);
        return false;
      }
    }
    ssize_t n = splice(p->watch[d.from].fd, nullptr, d.pipe.writeFd, nullptr,
                       static_cast<size_t>(PipePool::kCapacity), kSpliceFlags);
    if (n > 0) {
      d.inPipe = static_cast<size_t>(n);
      if (!drain(p, d)) {
        return false;
      }
      continue;
    }
    if (n == 0) {
      d.eof = true;
      break;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN) {
      fail(p, d.from, true, -errno);
      return false;
    }
    break; // nothing to read now
  }
  if (d.inPipe == 0 && d.pipe.valid()) {
    p->loop->pipes().release(d.pipe);
    d.pipe = {};
  }
  return true;
}

void onPoll(uv_poll_t* handle, int status, int events) noexcept;

// Passes half-closes on, asks libuv for exactly the events each fd now needs, reports.
void settle(PumpImpl* p) {
  for (Direction& d : p->dir) {
    if (d.eof && d.inPipe == 0 && !d.shutDown) {
      d.shutDown = true;
      // ENOTCONN: the destination is already gone; its own read side will tell.
      ::shutdown(p->watch[d.to].fd, SHUT_WR);
    }
  }
  for (int i = 0; i < 2; ++i) {
    int wanted = 0;
    for (const Direction& d : p->dir) {
      if (d.from == i && !d.eof && d.inPipe == 0) {
        wanted |= UV_READABLE;
      }
      if (d.to == i && d.inPipe > 0) {
        wanted |= UV_WRITABLE;
      }
    }
    FdWatch& w = p->watch[i];
    if (wanted == w.events) {
      continue;
    }
    w.events = wanted;
    if (wanted == 0) {
      uv_poll_stop(&w.handle);
    } else {
      uv_poll_start(&w.handle, wanted, onPoll);
    }
  }
  // Report after the watchers are consistent: the owner may close the pump in any callback.
  for (int i = 0; i < 2 && !p->closed; ++i) {
    Direction& d = p->dir[i];
    if (d.moved > 0) {
      size_t moved = d.moved;
      d.moved = 0;
      p->events->onPumpMoved(sideOf(d.from), moved);
    }
  }
  if (!p->closed && !p->finished && p->dir[0].shutDown && p->dir[1].shutDown) {
    p->finished = true;
    p->events->onPumpFinished();
  }
}

void onPoll(uv_poll_t* handle, int status, int events) noexcept {
  auto* watch = static_cast<FdWatch*>(handle->data);
  PumpImpl* p = watch->pump;
  if (p->closed) {
    return;
  }
  int index = watch == &p->watch[0] ? 0 : 1;
  if (status < 0) {
    // libuv stopped this watcher; whether it was a reset or a refused write, the pump is over.
    watch->events = 0;
    fail(p, index, true, pendingSocketError(watch->fd, status));
    return;
  }
  // Write first: it empties a pipe, which lets the other direction's source be read again.
  if ((events & UV_WRITABLE) && !drain(p, p->dir[1 - index])) {
    return;
  }
  if ((events & UV_READABLE) && !fill(p, p->dir[index])) {
    return;
  }
  settle(p);
}

} // namespace

SplicePump* SplicePump::start(Loop& loop, TcpStream& first, TcpStream& second,
                              SplicePumpEvents* events) {
  if (!first.canHandOff() || !second.canHandOff()) {
    return nullptr;
  }
  first.stopRead();
  second.stopRead();
  auto* p = new PumpImpl;
  p->loop = &loop;
  p->events = events;
  p->dir[1].from = 1;
  p->dir[1].to = 0;
  TcpStream* streams[2] = {&first, &second};
  for (int i = 0; i < 2; ++i) {
    FdWatch& w = p->watch[i];
    w.pump = p;
    w.fd = streams[i]->fileDescriptor();
    // EEXIST: libuv still watches this fd for the stream (a write or shutdown in flight).
    if (w.fd < 0 || uv_poll_init(static_cast<uv_loop_t*>(loop.raw()), &w.handle, w.fd) != 0) {
      p->closed = true;
      if (p->openHandles == 0) {
        delete p;
      } else {
        uv_close(reinterpret_cast<uv_handle_t*>(&p->watch[0].handle), onHandleClosed);
      }
      return nullptr;
    }
    w.handle.data = &w;
    ++p->openHandles;
  }
  settle(p);
  return p;
}

void SplicePump::close() {
  auto* p = static_cast<PumpImpl*>(this);
  if (p->closed) {
    return;
  }
  p->closed = true;
  p->events = nullptr;
  for (Direction& d : p->dir) {
    if (d.pipe.valid()) {
      // Bytes still in the pipe belong to a tunnel that is ending: drop them with the pipe.
      if (d.inPipe > 0) {
        PipePool::destroy(d.pipe);
      } else {
        p->loop->pipes().release(d.pipe);
      }
      d.pipe = {};
    }
  }
  // uv_close removes the fds from epoll at once; the streams may be closed right after.
  for (FdWatch& w : p->watch) {
    uv_close(reinterpret_cast<uv_handle_t*>(&w.handle), onHandleClosed);
  }
}

PipePool::~PipePool() {
  for (size_t i = 0; i < idleCount_; ++i) {
    destroy(idle_[i]);
  }
}

PipePool::Pipe PipePool::acquire() {
  if (idleCount_ > 0) {
    return idle_[--idleCount_];
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return {};
  }
  // A larger pipe moves more per splice; the kernel may refuse (per-user pipe limits).
  fcntl(fds[1], F_SETPIPE_SZ, kCapacity);
  ++created_;
  return {fds[0], fds[1]};
}

void PipePool::release(Pipe pipe) {
  if (idleCount_ < kMaxIdle) {
    idle_[idleCount_++] = pipe;
  } else {
    destroy(pipe);
  }
}

void PipePool::destroy(Pipe pipe) {
  ::close(pipe.readFd);
  ::close(pipe.writeFd);
}

} // namespace gatehouse::uv
