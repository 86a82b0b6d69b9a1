#include "gatehouse/uv/timer.h"

#include <uv.h>

#include "gatehouse/uv/loop.h"

namespace gatehouse::uv {

namespace {

// The libuv handle first, so the handle pointer and the object pointer coincide.
struct TimerImpl final : Timer {
  uv_timer_t handle;
  TimerHandler* handler;
  bool closing = false;
};

TimerImpl* impl(Timer* timer) {
  return static_cast<TimerImpl*>(timer);
}

} // namespace

Timer* Timer::create(Loop& loop, TimerHandler* handler) {
  auto* timer = new TimerImpl;
  timer->handler = handler;
  uv_timer_init(static_cast<uv_loop_t*>(loop.raw()), &timer->handle);
  timer->handle.data = timer;
  return timer;
}

void Timer::start(uint64_t ms) {
  auto* self = impl(this);
  if (self->closing) {
    return;
  }
  uv_timer_start(
      &self->handle,
      [](uv_timer_t* handle) noexcept {
        auto* timer = static_cast<TimerImpl*>(handle->data);
        if (!timer->closing && timer->handler) {
          timer->handler->onTimer(*timer);
        }
      },
      ms, 0);
}

void Timer::stop() {
  uv_timer_stop(&impl(this)->handle);
}

void Timer::close() {
  auto* self = impl(this);
  if (self->closing) {
    return;
  }
  self->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&self->handle), [](uv_handle_t* handle) noexcept {
    auto* timer = static_cast<TimerImpl*>(handle->data);
    if (timer->handler) {
      timer->handler->onTimerClosed(*timer);
    }
    delete timer;
  });
}

} // namespace gatehouse::uv
