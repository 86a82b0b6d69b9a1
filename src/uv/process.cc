#include "gatehouse/uv/process.h"

#include <csignal>
#include <cstring>
#include <new>
#include <uv.h>

#include "gatehouse/uv/loop.h"

namespace gatehouse::uv {

namespace {

// The process handle and both pipes live in one object, freed when the last of the three has
// closed. The process handle is closed only once the exit is reaped (libuv stops watching a
// pid whose handle is closed, which would leave a zombie).
struct ProcessImpl final : ChildProcess {
  uv_process_t process;
  uv_pipe_t toChild;
  uv_pipe_t fromChild;
  Loop* loop = nullptr;
  ProcessHandler* handler = nullptr;
  int openHandles = 3;
  int pid = 0;
  bool closing = false;
  bool exited = false;
};

// A queued write to the child's stdin that owns its bytes until its callback.
struct PipeWrite {
  uv_write_t req;
  size_t size;
  char* bytes() { return reinterpret_cast<char*>(this + 1); }
};

ProcessImpl* impl(ChildProcess* child) {
  return static_cast<ProcessImpl*>(child);
}

void onHandleClosed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<ProcessImpl*>(handle->data);
  if (--self->openHandles > 0) {
    return;
  }
  if (self->handler != nullptr) {
    self->handler->onProcessClosed(*self);
  }
  delete self;
}

void closeHandle(ProcessImpl* self, void* handle) {
  auto* h = static_cast<uv_handle_t*>(handle);
  if (!uv_is_closing(h)) {
    uv_close(h, onHandleClosed);
  }
}

void onExit(uv_process_t* process, int64_t exitStatus, int termSignal) noexcept {
  auto* self = static_cast<ProcessImpl*>(process->data);
  self->exited = true;
  if (!self->closing && self->handler != nullptr) {
    self->handler->onProcessEnded(*self, exitStatus, termSignal); // may call close()
  }
  if (self->closing) {
    closeHandle(self, &self->process);
  }
}

void onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<ProcessImpl*>(handle->data);
  // Helper replies are short lines: a small slice of the loop's buffer is plenty.
  *buf = uv_buf_init(self->loop->readBuffer(), 64 * 1024);
}

void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<ProcessImpl*>(stream->data);
  if (self->closing) {
    return;
  }
  if (nread < 0) {
    // EOF or error on stdout: the exit callback follows when the child dies; a child that
    // lives on without stdout is caught by its owner's timeout.
    uv_read_stop(stream);
    return;
  }
  if (nread > 0 && self->handler != nullptr) {
    self->handler->onProcessOutput(*self, std::string_view(buf->base, static_cast<size_t>(nread)));
  }
}

} // namespace

ChildProcess* ChildProcess::spawn(Loop& loop, const std::vector<std::string>& argv,
                                  ProcessHandler* handler, std::string& error) {
  if (argv.empty()) {
    error = "EINVAL";
    return nullptr;
  }
  auto* raw = static_cast<uv_loop_t*>(loop.raw());
  auto* self = new ProcessImpl(); // value-initialised: the libuv structs start zeroed
  self->loop = &loop;
  self->process.data = self;
  self->toChild.data = self;
  self->fromChild.data = self;
  uv_pipe_init(raw, &self->toChild, 0);
  uv_pipe_init(raw, &self->fromChild, 0);

  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&self->toChild);
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&self->fromChild);
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  uv_process_options_t options{};
  options.file = args[0];
  options.args = args.data();
  options.exit_cb = onExit;
  options.stdio_count = 3;
  options.stdio = stdio;

  const int spawned = uv_spawn(raw, &self->process, &options);
  const int rc = spawned != 0 ? spawned
                              : uv_read_start(reinterpret_cast<uv_stream_t*>(&self->fromChild),
                                              onAlloc, onRead);
  if (rc != 0) {
    error = uv_err_name(rc);
    self->closing = true;
    closeHandle(self, &self->toChild);
    closeHandle(self, &self->fromChild);
    if (spawned != 0) {
      // uv_spawn failed: the handle is initialised (so it must be closed) but no child exists.
      closeHandle(self, &self->process);
    } else {
      uv_process_kill(&self->process, SIGKILL); // reaped in onExit, which closes the handle
    }
    return nullptr;
  }
  self->pid = self->process.pid;
  self->handler = handler;
  return self;
}

bool ChildProcess::write(std::string_view bytes) {
  auto* self = impl(this);
  if (self->closing || self->exited) {
    return false;
  }
  auto* w = static_cast<PipeWrite*>(::operator new(sizeof(PipeWrite) + bytes.size()));
  w->size = bytes.size();
  std::memcpy(w->bytes(), bytes.data(), bytes.size());
  uv_buf_t buf = uv_buf_init(w->bytes(), static_cast<unsigned>(bytes.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&self->toChild), &buf, 1,
                    [](uv_write_t* req, int) noexcept {
                      // Errors (EPIPE from a dead child) surface as its exit or a timeout.
                      auto* done = reinterpret_cast<PipeWrite*>(req);
                      explicit_bzero(done->bytes(), done->size); // may hold a password
                      ::operator delete(done);
                    });
  if (rc != 0) {
    explicit_bzero(w->bytes(), w->size);
    ::operator delete(w);
    return false;
  }
  return true;
}

int ChildProcess::pid() const {
  return static_cast<const ProcessImpl*>(this)->pid;
}

void ChildProcess::close() {
  auto* self = impl(this);
  if (self->closing) {
    return;
  }
  self->closing = true;
  closeHandle(self, &self->toChild);
  closeHandle(self, &self->fromChild);
  if (self->exited) {
    closeHandle(self, &self->process);
  } else if (uv_process_kill(&self->process, SIGKILL) != 0) {
    // Already dead but not yet reaped: onExit still comes and closes the handle.
  }
}

} // namespace gatehouse::uv
