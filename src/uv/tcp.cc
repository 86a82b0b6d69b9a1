#include "gatehouse/uv/tcp.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <optional>
#include <sys/socket.h>
#include <type_traits>
#include <unistd.h>
#include <uv.h>

#include "gatehouse/uv/loop.h"
#include "socket_error.h"

namespace gatehouse::uv {

namespace {

// The libuv handle first, so casting between the two is trivial. Pending connect, write and
// shutdown requests (heap-allocated per use, so an idle stream carries none) point at this
// object; libuv completes them (with UV_ECANCELED) before the close callback, which is the
// only place the object is freed.
//
// Every stream is a live connection (both legs of each tunnel), so its size is what an idle
// connection costs: the handler lives in the handle's data field and the loop in the libuv
// loop's, and what only some streams have (TLS, a PROXY protocol peer) sits behind one
// pointer. 280 bytes, a 288-byte allocation (the 304-byte layout took 320).
struct TcpStreamImpl final : TcpStream {
  // What few streams have.
  struct Rare {
    std::unique_ptr<StreamFilter> filter; // TLS
    // The client a PROXY protocol header named (a load balancer's connection), reported by
    // peerAddress() instead of the socket's own peer.
    std::unique_ptr<SocketAddress> peerOverride;
  };

  uv_tcp_t handle; // handle.data: the StreamHandler (null until one is set)
  size_t queuedBytes = 0;
  uint32_t readLimit = 0; // 0: the whole loop buffer
  bool closing = false;
  bool reading = false;
  bool wantDrain = false;
  bool connecting = false;
  bool shuttingDown = false;
  // Owned; a raw pointer because std::unique_ptr is not standard-layout with every compiler
  // (clang's fuzz build), and the handle-to-stream cast needs a standard-layout type.
  Rare* rare = nullptr;

  TcpStreamImpl() = default;
  TcpStreamImpl(const TcpStreamImpl&) = delete;
  TcpStreamImpl& operator=(const TcpStreamImpl&) = delete;
  ~TcpStreamImpl() { delete rare; }

  Loop* loop() const { return static_cast<Loop*>(handle.loop->data); }
  StreamHandler* handler() const { return static_cast<StreamHandler*>(handle.data); }
  StreamFilter* filter() const { return rare ? rare->filter.get() : nullptr; }
  Rare& rareFields() {
    if (rare == nullptr) {
      rare = new Rare;
    }
    return *rare;
  }
};

// Callbacks get the handle and cast it to the stream: the two share an address.
static_assert(std::is_standard_layout_v<TcpStreamImpl>);
static_assert(sizeof(TcpStreamImpl) <= 280, "every connection pays for a stream (both legs)");

int rawWrite(TcpStreamImpl* s, uv_buf_t* bufs, size_t count);

// testing::failNextWrites(): writes still to fail, and with what.
std::atomic<int> injectedWriteFailures{0};
std::atomic<int> injectedWriteStatus{0};

// The injected failure for this write, or 0 (nearly always: one relaxed load).
int takeInjectedWriteFailure() {
  int left = injectedWriteFailures.load(std::memory_order_relaxed);
  while (left > 0) {
    if (injectedWriteFailures.compare_exchange_weak(left, left - 1, std::memory_order_acq_rel)) {
      return injectedWriteStatus.load(std::memory_order_relaxed);
    }
  }
  return 0;
}

// A queued write: the request, then a copy of the bytes it owns until its callback.
struct WriteReq {
  uv_write_t req;
  TcpStreamImpl* stream;
  size_t size;
  char* bytes() { return reinterpret_cast<char*>(this + 1); }

  // Room for `size` bytes, to be filled before submit().
  static WriteReq* allocate(TcpStreamImpl* stream, size_t size) {
    auto* w = static_cast<WriteReq*>(::operator new(sizeof(WriteReq) + size));
    w->stream = stream;
    w->size = size;
    return w;
  }
  static void discard(WriteReq* w) { ::operator delete(w); }
  // Hands the filled request to libuv (freed in onWriteDone) or frees it on failure.
  int submit();
};

TcpStreamImpl* impl(TcpStream* stream) {
  return static_cast<TcpStreamImpl*>(stream);
}
const TcpStreamImpl* impl(const TcpStream* stream) {
  return static_cast<const TcpStreamImpl*>(stream);
}
uv_stream_t* asStream(TcpStreamImpl* s) {
  return reinterpret_cast<uv_stream_t*>(&s->handle);
}

void onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* s = reinterpret_cast<TcpStreamImpl*>(handle);
  size_t size = s->readLimit != 0 ? s->readLimit : Loop::kReadBufferSize;
  *buf = uv_buf_init(s->loop()->readBuffer(), static_cast<unsigned>(size));
}

void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* s = reinterpret_cast<TcpStreamImpl*>(stream);
  if (s->closing || s->handler() == nullptr) {
    return;
  }
  if (nread > 0 && s->filter()) {
    std::string plain;
    std::string out;
    FilterStatus status =
        s->filter()->receive(std::string_view(buf->base, static_cast<size_t>(nread)), plain, out);
    if (!out.empty()) {
      uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
      rawWrite(s, &b, 1);
    }
    if (!plain.empty()) {
      s->handler()->onStreamRead(*s, plain);
      if (s->closing || s->handler() == nullptr || !s->filter()) {
        return;
      }
    }
    if (status == FilterStatus::Closed) {
      uv_read_stop(stream);
      s->reading = false;
      s->handler()->onStreamReadEnd(*s, UV_EOF);
    } else if (status != FilterStatus::Ok) {
      uv_read_stop(stream);
      s->reading = false;
      // A copy: the handler may remove the filter (and its error text) while handling this.
      const std::string detail = s->filter()->error();
      s->handler()->onStreamFilterFailed(*s, status, detail);
    }
  } else if (nread > 0) {
    s->handler()->onStreamRead(*s, std::string_view(buf->base, static_cast<size_t>(nread)));
  } else if (nread < 0) {
    uv_read_stop(stream);
    s->reading = false;
    int status = static_cast<int>(nread);
    if (status == UV_EOF) {
      // An RST that follows data comes as EOF from libuv 1.44; the socket still holds it.
      uv_os_fd_t fd = -1;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream), &fd) == 0) {
        status = pendingSocketError(fd, status);
      }
      // A filter that had ended cleanly stopped reading with it, so this EOF came first:
      // whatever the peer meant to send may have been cut short.
      if (status == UV_EOF && s->filter()) {
        status = kEofTruncated;
      }
    }
    s->handler()->onStreamReadEnd(*s, status);
  }
}

void onWriteDone(uv_write_t* req, int status) noexcept {
  auto* w = reinterpret_cast<WriteReq*>(req);
  TcpStreamImpl* s = w->stream;
  s->queuedBytes -= w->size;
  WriteReq::discard(w);
  if (s->closing || s->handler() == nullptr) {
    return;
  }
  if (status < 0) {
    s->handler()->onStreamWriteError(*s, status);
    return;
  }
  if (s->wantDrain && s->writeQueueSize() <= TcpStream::kLowWatermark) {
    s->wantDrain = false;
    s->handler()->onStreamDrained(*s);
  }
}

void onClosed(uv_handle_t* handle) noexcept {
  auto* s = reinterpret_cast<TcpStreamImpl*>(handle);
  if (s->handler()) {
    s->handler()->onStreamClosed(*s);
  }
  delete s;
}

} // namespace

TcpStream* TcpStream::create(Loop& loop) {
  auto* s = new TcpStreamImpl;
  uv_tcp_init(static_cast<uv_loop_t*>(loop.raw()), &s->handle);
  s->handle.data = nullptr; // no handler yet
  return s;
}

Loop& TcpStream::loop() const {
  return *impl(this)->loop();
}
void TcpStream::setHandler(StreamHandler* handler) {
  impl(this)->handle.data = handler;
}

int TcpStream::acceptFrom(void* serverStream) {
  return uv_accept(static_cast<uv_stream_t*>(serverStream), asStream(impl(this)));
}

int TcpStream::connect(const SocketAddress& address) {
  auto* s = impl(this);
  // Allocated per use: most streams (accepted clients) never connect.
  auto* req = new uv_connect_t;
  req->data = s;
  int rc = uv_tcp_connect(req, &s->handle, address.raw(), [](uv_connect_t* r, int status) noexcept {
    auto* stream = static_cast<TcpStreamImpl*>(r->data);
    delete r; // libuv runs this (with UV_ECANCELED) before the close callback frees the stream
    stream->connecting = false;
    if (!stream->closing && stream->handler()) {
      stream->handler()->onStreamConnected(*stream, status);
    }
  });
  if (rc != 0) {
    delete req;
  }
  s->connecting = rc == 0;
  return rc;
}

int TcpStream::startRead() {
  auto* s = impl(this);
  if (s->reading || s->closing) {
    return 0;
  }
  int rc = uv_read_start(asStream(s), onAlloc, onRead);
  s->reading = rc == 0;
  return rc;
}

void TcpStream::stopRead() {
  auto* s = impl(this);
  if (s->reading) {
    uv_read_stop(asStream(s));
    s->reading = false;
  }
}

int TcpStream::write(std::string_view data) {
  return write({data});
}

int TcpStream::write(std::initializer_list<std::string_view> buffers) {
  auto* s = impl(this);
  if (s->closing) {
    return UV_ECANCELED;
  }
  if (int injected = takeInjectedWriteFailure(); injected != 0) [[unlikely]] {
    return injected;
  }
  if (s->filter()) {
    // Encode the buffers as one stream (TLS records); only the filter's output goes out.
    std::string plain;
    for (std::string_view b : buffers) {
      plain.append(b);
    }
    std::string out;
    if (s->filter()->send(plain, out) != FilterStatus::Ok) {
      return UV_EPROTO;
    }
    uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    return rawWrite(s, &b, 1);
  }
  constexpr size_t kMaxBuffers = 8;
  uv_buf_t bufs[kMaxBuffers];
  size_t count = 0;
  for (std::string_view b : buffers) {
    if (b.empty()) {
      continue;
    }
    if (count == kMaxBuffers) {
      return UV_EINVAL;
    }
    bufs[count++] = uv_buf_init(const_cast<char*>(b.data()), static_cast<unsigned>(b.size()));
  }
  return rawWrite(s, bufs, count);
}

namespace {

int rawWrite(TcpStreamImpl* s, uv_buf_t* bufs, size_t count) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    total += bufs[i].len;
  }
  if (total == 0) {
    return 0;
  }
  // Try the kernel first: most writes complete at once and need no copy.
  size_t written = 0;
  if (s->queuedBytes == 0) {
    int rc = uv_try_write(asStream(s), bufs, static_cast<unsigned>(count));
    if (rc >= 0) {
      written = static_cast<size_t>(rc);
    } else if (rc != UV_EAGAIN) {
      return rc;
    }
  }
  if (written == total) {
    return 0;
  }
  // Copy the rest into one request that owns its bytes until the write callback.
  size_t rest = total - written;
  WriteReq* w = WriteReq::allocate(s, rest);
  char* out = w->bytes();
  size_t skip = written;
  for (size_t i = 0; i < count; ++i) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    std::memcpy(out, bufs[i].base + skip, len - skip);
    out += len - skip;
    skip = 0;
  }
  return w->submit();
}

int WriteReq::submit() {
  uv_buf_t queued = uv_buf_init(bytes(), static_cast<unsigned>(size));
  if (int rc = uv_write(&req, asStream(stream), &queued, 1, onWriteDone); rc != 0) {
    discard(this);
    return rc;
  }
  stream->queuedBytes += size;
  return 0;
}

} // namespace

size_t TcpStream::writeQueueSize() const {
  // Bytes a filter holds before its handshake count too: an upload to a TLS origin that is
  // still handshaking is paused like one to a slow socket, not buffered without bound.
  const auto* s = impl(this);
  return s->queuedBytes + (s->filter() ? s->filter()->pendingBytes() : 0);
}

void TcpStream::notifyWhenDrained() {
  auto* s = impl(this);
  if (s->writeQueueSize() <= kLowWatermark) {
    s->wantDrain = false;
    if (s->handler() && !s->closing) {
      s->handler()->onStreamDrained(*s);
    }
    return;
  }
  s->wantDrain = true;
}

int TcpStream::shutdown() {
  auto* s = impl(this);
  if (s->closing) {
    return UV_ECANCELED;
  }
  if (s->filter()) {
    std::string out;
    s->filter()->shutdown(out); // close_notify first
    if (!out.empty()) {
      uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
      rawWrite(s, &b, 1);
    }
  }
  auto* req = new uv_shutdown_t; // per use, like connect requests
  req->data = s;
  int rc = uv_shutdown(req, asStream(s), [](uv_shutdown_t* r, int status) noexcept {
    auto* stream = static_cast<TcpStreamImpl*>(r->data);
    delete r;
    if (!stream->closing && stream->handler()) {
      stream->handler()->onStreamShutdown(*stream, status);
    }
  });
  if (rc != 0) {
    delete req;
  }
  // Stays set: after a shutdown the stream is never handed off.
  s->shuttingDown = rc == 0;
  return rc;
}

void TcpStream::close() {
  auto* s = impl(this);
  if (s->closing) {
    return;
  }
  s->closing = true;
  s->reading = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), onClosed);
}

void TcpStream::closeWithReset() {
  auto* s = impl(this);
  if (s->closing) {
    return;
  }
  s->closing = true;
  s->reading = false;
  // uv_tcp_close_reset refuses while a shutdown is pending; fall back to a plain close.
  if (uv_tcp_close_reset(&s->handle, onClosed) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), onClosed);
  }
}

void TcpStream::setFilter(std::unique_ptr<StreamFilter> filter) {
  if (filter || impl(this)->rare) {
    impl(this)->rareFields().filter = std::move(filter);
  }
}

void TcpStream::removeFilter() {
  if (impl(this)->rare) {
    impl(this)->rare->filter.reset();
  }
}

StreamFilter* TcpStream::filter() const {
  return impl(this)->filter();
}

void StreamHandler::onStreamFilterFailed(TcpStream& stream, FilterStatus, const std::string&) {
  onStreamReadEnd(stream, UV_EPROTO);
}

void TcpStream::setNoDelay(bool enabled) {
  uv_tcp_nodelay(&impl(this)->handle, enabled ? 1 : 0);
}

void TcpStream::setReadLimit(size_t bytes) {
  impl(this)->readLimit = static_cast<uint32_t>(std::min(bytes, Loop::kReadBufferSize));
}

namespace {

// Queues `size` bytes read out of `pipeFd` as one write request owning them (the destination
// socket was full: they wait in its write queue, behind nothing, ahead of anything later).
int queueFromPipe(TcpStreamImpl* s, int pipeFd, size_t size) {
  WriteReq* w = WriteReq::allocate(s, size);
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(pipeFd, w->bytes() + got, size - got);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      WriteReq::discard(w);
      return n < 0 ? -errno : UV_EIO;
    }
  }
  return w->submit();
}

} // namespace

SpliceResult TcpStream::spliceTo(TcpStream& dest, uint64_t max) {
  auto* s = impl(this);
  auto* d = impl(&dest);
  SpliceResult result;
  int from = fileDescriptor();
  int to = dest.fileDescriptor();
  if (max == 0 || from < 0 || to < 0 || s->filter() || !dest.canReceiveSplice()) {
    return result;
  }
  PipePool& pool = s->loop()->pipes();
  PipePool::Pipe pipe = pool.acquire();
  if (!pipe.valid()) {
    return result; // out of fds: the ordinary read path carries on
  }
  constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  bool destFull = false;
  while (result.moved < max && !destFull) {
    size_t want = static_cast<size_t>(
        std::min<uint64_t>(max - result.moved, static_cast<uint64_t>(PipePool::kCapacity)));
    ssize_t n = splice(from, nullptr, pipe.writeFd, nullptr, want, kFlags);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      // 0 is EOF and EAGAIN is "nothing yet": both are for the ordinary read path to see.
      if (n < 0 && errno != EAGAIN) {
        result.readError = -errno;
      }
      break;
    }
    result.moved += static_cast<uint64_t>(n);
    size_t inPipe = static_cast<size_t>(n);
    while (inPipe > 0) {
      ssize_t m = splice(pipe.readFd, nullptr, to, nullptr, inPipe, kFlags);
      if (m > 0) {
        inPipe -= static_cast<size_t>(m);
      } else if (m < 0 && errno == EINTR) {
        continue;
      } else if (m < 0 && errno == EAGAIN) {
        destFull = true;
        if (int rc = queueFromPipe(d, pipe.readFd, inPipe); rc != 0) {
          result.writeError = rc;
        }
        inPipe = 0;
      } else {
        result.writeError = m < 0 ? -errno : UV_EPIPE;
        PipePool::destroy(pipe); // its bytes have nowhere to go
        return result;
      }
    }
    if (result.writeError != 0) {
      PipePool::destroy(pipe);
      return result;
    }
  }
  pool.release(pipe);
  return result;
}

bool TcpStream::canReceiveSplice() const {
  auto* s = impl(this);
  return !s->closing && !s->filter() && s->queuedBytes == 0;
}

bool TcpStream::canHandOff() const {
  auto* s = impl(this);
  return !s->closing && !s->filter() && !s->connecting && !s->shuttingDown && s->queuedBytes == 0;
}

int TcpStream::fileDescriptor() const {
  uv_os_fd_t fd = -1;
  if (impl(this)->closing ||
      uv_fileno(reinterpret_cast<const uv_handle_t*>(&impl(this)->handle), &fd) != 0) {
    return -1;
  }
  return fd;
}

void TcpStream::setPeerAddress(const SocketAddress& address) {
  impl(this)->rareFields().peerOverride = std::make_unique<SocketAddress>(address);
}

int TcpStream::peek(char* buffer, size_t size) const {
  int fd = fileDescriptor();
  if (fd < 0 || impl(this)->filter() != nullptr) {
    return UV_EBADF;
  }
  ssize_t n = ::recv(fd, buffer, size, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : uv_translate_sys_error(errno);
  }
  return static_cast<int>(n);
}

SocketAddress TcpStream::peerAddress() const {
  if (const auto& rare = impl(this)->rare; rare && rare->peerOverride) {
    return *rare->peerOverride;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&impl(this)->handle, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return {};
  }
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss));
}

void testing::failNextWrites(int count, int status) {
  injectedWriteStatus.store(status, std::memory_order_relaxed);
  injectedWriteFailures.store(count, std::memory_order_release);
}

} // namespace gatehouse::uv
