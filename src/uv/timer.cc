#include "gatehouse/uv/timer.h"

#include <type_traits>
#include <uv.h>

#include "gatehouse/uv/loop.h"

namespace gatehouse::uv {

namespace {

// The libuv handle first, so the handle pointer and the object pointer coincide. Every
// connection has a timer: the handler lives in the handle's data field and "closing" is
// libuv's own flag, so the object is the bare handle (a 160-byte allocation, not 176).
struct TimerImpl final : Timer {
  uv_timer_t handle;
  TimerHandler* handler() const { return static_cast<TimerHandler*>(handle.data); }
  bool closing() const { return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&handle)) != 0; }
};
static_assert(std::is_standard_layout_v<TimerImpl>);

TimerImpl* impl(Timer* timer) {
  return static_cast<TimerImpl*>(timer);
}

} // namespace

Timer* Timer::create(Loop& loop, TimerHandler* handler) {
  auto* timer = new TimerImpl;
  uv_timer_init(static_cast<uv_loop_t*>(loop.raw()), &timer->handle);
  timer->handle.data = handler;
  return timer;
}

void Timer::start(uint64_t ms) {
  auto* self = impl(this);
  if (self->closing()) {
    return;
  }
  uv_timer_start(
      &self->handle,
      [](uv_timer_t* handle) noexcept {
        auto* timer = reinterpret_cast<TimerImpl*>(handle);
        if (!timer->closing() && timer->handler() != nullptr) {
          timer->handler()->onTimer(*timer);
        }
      },
      ms, 0);
}

void Timer::stop() {
  uv_timer_stop(&impl(this)->handle);
}

void Timer::close() {
  auto* self = impl(this);
  if (self->closing()) {
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&self->handle), [](uv_handle_t* handle) noexcept {
    auto* timer = reinterpret_cast<TimerImpl*>(handle);
    if (timer->handler() != nullptr) {
      timer->handler()->onTimerClosed(*timer);
    }
    delete timer;
  });
}

} // namespace gatehouse::uv
