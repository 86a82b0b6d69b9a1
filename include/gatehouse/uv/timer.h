#pragma once
// A one-shot timer with the same ownership rule as TcpStream: heap-allocated, freed in the
// close callback, owners learn of the end through onTimerClosed.

#include <cstdint>

namespace gatehouse::uv {

class Loop;
class Timer;

// Receives one timer's events on the loop thread.
class TimerHandler {
public:
  virtual ~TimerHandler() = default;
  virtual void onTimer(Timer& timer) = 0;
  virtual void onTimerClosed(Timer& timer) {}
};

class Timer {
public:
  static Timer* create(Loop& loop, TimerHandler* handler);
  // (Re)arms the timer to fire once after `ms`.
  void start(uint64_t ms);
  void stop();
  void close();

protected:
  Timer() = default;
  ~Timer() = default;
};

} // namespace gatehouse::uv
