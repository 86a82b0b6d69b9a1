// The loop's mailbox: tasks posted from other threads run on the loop thread, stop() runs the
// stop handler once and closes the mailbox so run() returns, and later posts are refused.

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "gatehouse/uv/loop.h"

using gatehouse::uv::Loop;

TEST_CASE("posted tasks run on the loop thread, stop ends run() and refuses later posts",
          "[loop]") {
  Loop loop;
  std::atomic<int> ran{0};
  int stops = 0;
  std::thread::id loopThread;
  loop.setStopHandler([&] { ++stops; });
  std::thread runner([&] {
    loopThread = std::this_thread::get_id();
    loop.run();
  });
  // Posted from this (another) thread; the last task stops the loop from inside it.
  for (int i = 0; i < 100; ++i) {
    REQUIRE(loop.post([&] {
      CHECK(std::this_thread::get_id() == loopThread);
      ++ran;
    }));
  }
  REQUIRE(loop.post([&] {
    loop.stop();
    loop.stop(); // a second stop does nothing
  }));
  runner.join(); // returns: the mailbox was the only handle
  CHECK(ran == 100);
  CHECK(stops == 1);
  CHECK_FALSE(loop.post([] {}));
  loop.requestStop(); // harmless after the stop
  CHECK(stops == 1);
}

TEST_CASE("requestStop from another thread runs the stop handler on the loop", "[loop]") {
  Loop loop;
  std::atomic<bool> stopped{false};
  loop.setStopHandler([&] { stopped = true; });
  std::thread runner([&] { loop.run(); });
  loop.requestStop();
  runner.join();
  CHECK(stopped);
}
