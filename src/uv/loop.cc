#include "gatehouse/uv/loop.h"

#include <stdexcept>
#include <uv.h>

namespace gatehouse::uv {

namespace {
uv_loop_t* loopOf(void* raw) {
  return static_cast<uv_loop_t*>(raw);
}
} // namespace

static_assert(kEof == UV_EOF, "kEof must match libuv");

static_assert(kEofTruncated < UV_ERRNO_MAX, "kEofTruncated must not be a libuv code");

const char* errorName(int status) {
  if (status == kEofTruncated) {
    return "EOF_WITHOUT_CLOSE_NOTIFY";
  }
  return uv_err_name(status);
}

Loop::Loop()
    : raw_(new uv_loop_t), stopAsync_(new uv_async_t), readBuffer_(new char[kReadBufferSize]) {
  if (int rc = uv_loop_init(loopOf(raw_)); rc != 0) {
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  auto* async = static_cast<uv_async_t*>(stopAsync_);
  async->data = this;
  uv_async_init(loopOf(raw_), async, [](uv_async_t* handle) noexcept {
    auto* self = static_cast<Loop*>(handle->data);
    // The async handle is closed here so run() can return once the owner closed the rest.
    uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
    if (self->stopHandler_) {
      self->stopHandler_();
    }
  });
}

Loop::~Loop() {
  auto* loop = loopOf(raw_);
  auto* async = static_cast<uv_async_t*>(stopAsync_);
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(async))) {
    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
  }
  // Let close callbacks of anything still closing run, then close the loop.
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  delete async;
  delete loop;
}

void Loop::run() {
  uv_run(loopOf(raw_), UV_RUN_DEFAULT);
}

void Loop::requestStop() {
  uv_async_send(static_cast<uv_async_t*>(stopAsync_));
}

void Loop::setStopHandler(std::function<void()> handler) {
  stopHandler_ = std::move(handler);
}

uint64_t Loop::now() const {
  return uv_now(loopOf(raw_));
}

} // namespace gatehouse::uv
