// The one-shot timer on a real loop: fires once, re-arms, a stopped timer stays quiet, and
// the owner hears of the end only through onTimerClosed (the handle is freed there).

#include <catch2/catch.hpp>

#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/timer.h"

using namespace gatehouse::uv;

namespace {

struct Counting final : TimerHandler {
  int fired = 0;
  bool closed = false;
  std::function<void(Timer&)> onFire;
  void onTimer(Timer& timer) override {
    ++fired;
    if (onFire) {
      onFire(timer);
    }
  }
  void onTimerClosed(Timer&) override { closed = true; }
};

} // namespace

TEST_CASE("timer: fires once per start, re-arms from its own callback, closes cleanly", "[timer]") {
  Loop loop;
  Counting handler;
  Timer* timer = Timer::create(loop, &handler);
  handler.onFire = [&](Timer& t) {
    if (handler.fired == 1) {
      t.start(1); // re-armed inside its own callback
      return;
    }
    t.close();
    loop.requestStop();
  };
  timer->start(1);
  loop.run();
  CHECK(handler.fired == 2);
  CHECK(handler.closed);
}

TEST_CASE("timer: a stopped timer never fires, and closing one never fires it", "[timer]") {
  Loop loop;
  Counting quiet;
  Counting driver;
  Timer* stopped = Timer::create(loop, &quiet);
  Timer* ticking = Timer::create(loop, &driver);
  stopped->start(1);
  stopped->stop();
  driver.onFire = [&](Timer& t) {
    t.close();
    stopped->close();
    loop.requestStop();
  };
  ticking->start(5);
  loop.run();
  CHECK(quiet.fired == 0);
  CHECK(quiet.closed);
  CHECK(driver.fired == 1);
  CHECK(driver.closed);
}
