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

// The async handle is the loop's only wakeup from other threads. `closed` is set (under the
// lock) before uv_close, so no thread sends to a closing handle.
struct Loop::Mailbox {
  uv_async_t async{};
  std::mutex mutex;
  std::vector<std::function<void()>> tasks;
  bool closed = false;
};

Loop::Loop() : raw_(new uv_loop_t), mailbox_(new Mailbox), readBuffer_(new char[kReadBufferSize]) {
  if (int rc = uv_loop_init(loopOf(raw_)); rc != 0) {
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  loopOf(raw_)->data = this; // how a stream finds its Loop without a pointer of its own
  mailbox_->async.data = this;
  if (int rc = uv_async_init(
          loopOf(raw_), &mailbox_->async,
          [](uv_async_t* handle) noexcept { static_cast<Loop*>(handle->data)->runPosted(); });
      rc != 0) {
    throw std::runtime_error(std::string("uv_async_init: ") + uv_strerror(rc));
  }
}

Loop::~Loop() {
  auto* loop = loopOf(raw_);
  {
    std::lock_guard lock(mailbox_->mutex);
    if (!mailbox_->closed) {
      mailbox_->closed = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&mailbox_->async), nullptr);
    }
  }
  // Let close callbacks of anything still closing run, then close the loop.
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  delete loop;
}

void Loop::run() {
  uv_run(loopOf(raw_), UV_RUN_DEFAULT);
}

void Loop::runPosted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mailbox_->mutex);
    tasks.swap(mailbox_->tasks);
  }
  for (auto& task : tasks) {
    task(); // a task may call stop(): the rest still run, their handles are the owner's
  }
}

bool Loop::post(std::function<void()> task) {
  std::lock_guard lock(mailbox_->mutex);
  if (mailbox_->closed) {
    return false;
  }
  mailbox_->tasks.push_back(std::move(task));
  uv_async_send(&mailbox_->async);
  return true;
}

void Loop::requestStop() {
  post([this] { stop(); });
}

void Loop::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  {
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->closed = true;
    mailbox_->tasks.clear();
  }
  // The async handle is closed here so run() can return once the owner closed the rest.
  uv_close(reinterpret_cast<uv_handle_t*>(&mailbox_->async), nullptr);
  if (stopHandler_) {
    stopHandler_();
  }
}

void Loop::setStopHandler(std::function<void()> handler) {
  stopHandler_ = std::move(handler);
}

uint64_t Loop::now() const {
  return uv_now(loopOf(raw_));
}

} // namespace gatehouse::uv
