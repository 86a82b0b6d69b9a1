// The per-loop pool of pipes that splicing tunnels borrow (src/uv/splice_pump.cc).

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include "gatehouse/uv/splice_pump.h"

using gatehouse::uv::PipePool;

namespace {
bool isOpen(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}
} // namespace

TEST_CASE("a pooled pipe is non-blocking, reused once released, and its capacity raised") {
  PipePool pool;
  PipePool::Pipe first = pool.acquire();
  REQUIRE(first.valid());
  CHECK((fcntl(first.readFd, F_GETFL) & O_NONBLOCK) != 0);
  CHECK((fcntl(first.writeFd, F_GETFL) & O_NONBLOCK) != 0);
  // Root or within the per-user pipe budget: the raised size holds (it may be refused
  // elsewhere, which only makes splices smaller).
  CHECK(fcntl(first.writeFd, F_GETPIPE_SZ) >= 64 * 1024);
  pool.release(first);
  CHECK(pool.idleCount() == 1);
  PipePool::Pipe again = pool.acquire();
  CHECK(again.readFd == first.readFd);
  CHECK(pool.created() == 1);
  pool.release(again);
}

TEST_CASE("the pool keeps at most kMaxIdle pipes and closes the rest") {
  std::vector<PipePool::Pipe> pipes;
  {
    PipePool pool;
    for (size_t i = 0; i < PipePool::kMaxIdle + 3; ++i) {
      pipes.push_back(pool.acquire());
      REQUIRE(pipes.back().valid());
    }
    for (const auto& pipe : pipes) {
      pool.release(pipe);
    }
    CHECK(pool.idleCount() == PipePool::kMaxIdle);
    // The three released last went over the limit and were closed at once.
    for (size_t i = PipePool::kMaxIdle; i < pipes.size(); ++i) {
      CHECK_FALSE(isOpen(pipes[i].readFd));
    }
    CHECK(isOpen(pipes[0].readFd));
  }
  // Destroying the pool closes what it kept.
  CHECK_FALSE(isOpen(pipes[0].readFd));
  CHECK_FALSE(isOpen(pipes[0].writeFd));
}
