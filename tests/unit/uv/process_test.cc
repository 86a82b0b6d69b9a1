// Child processes with pipes: output arrives, a missing program fails at once, and close()
// kills a running child and reaps it before the object is freed.

#include <catch2/catch.hpp>
#include <csignal>
#include <sys/wait.h>

#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/process.h"

using namespace gatehouse::uv;

namespace {

// Records what one child did; stops the loop once the child's handles closed.
struct Recorder final : ProcessHandler {
  Loop* loop = nullptr;
  std::string output;
  bool ended = false;
  int64_t status = -2;
  int signal = -1;
  bool closed = false;
  void onProcessOutput(ChildProcess& child, std::string_view bytes) override {
    output += bytes;
    if (output.find('\n') != std::string::npos) {
      child.close(); // cat would run forever
    }
  }
  void onProcessEnded(ChildProcess& child, int64_t s, int sig) override {
    ended = true;
    status = s;
    signal = sig;
    child.close();
  }
  void onProcessClosed(ChildProcess&) override {
    closed = true;
    loop->requestStop();
  }
};

} // namespace

TEST_CASE("a child's output arrives - close() kills and reaps it") {
  std::signal(SIGPIPE, SIG_IGN);
  Loop loop;
  Recorder recorder;
  recorder.loop = &loop;
  std::string error;
  ChildProcess* child = ChildProcess::spawn(loop, {"/bin/cat"}, &recorder, error);
  REQUIRE(child != nullptr);
  const int pid = child->pid();
  CHECK(pid > 0);
  CHECK(child->write("hello\n"));
  loop.run();
  CHECK(recorder.output == "hello\n");
  CHECK(recorder.closed);
  CHECK_FALSE(recorder.ended); // closed before it exited: no event after close()
  // Reaped: the pid no longer names a child of ours.
  CHECK(::waitpid(pid, nullptr, WNOHANG) == -1);
}

TEST_CASE("a child that exits reports its status") {
  Loop loop;
  Recorder recorder;
  recorder.loop = &loop;
  std::string error;
  ChildProcess* child = ChildProcess::spawn(loop, {"/bin/sh", "-c", "exit 3"}, &recorder, error);
  REQUIRE(child != nullptr);
  loop.run();
  CHECK(recorder.ended);
  CHECK(recorder.status == 3);
  CHECK(recorder.signal == 0);
  CHECK(recorder.closed);
}

TEST_CASE("a missing program fails at once, with nothing to call back") {
  Loop loop;
  Recorder recorder;
  std::string error;
  CHECK(ChildProcess::spawn(loop, {"/nonexistent/program"}, &recorder, error) == nullptr);
  CHECK(error == "ENOENT");
  loop.requestStop();
  loop.run();
  CHECK_FALSE(recorder.closed);
}
