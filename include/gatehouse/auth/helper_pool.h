#pragma once
// A pool of Squid-style helper processes on one event loop: started lazily, restarted with
// back-off when one dies, a bounded queue and a per-request timeout, replies matched by
// channel ID (concurrent helpers) or by order (one request at a time per child). No threads:
// pipes and process exits arrive as loop events.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/auth/helper_protocol.h"

namespace gatehouse::uv {
class Loop;
class Timer;
} // namespace gatehouse::uv

namespace gatehouse::auth {

struct HelperPoolOptions {
  std::string name = "helper";   // for log lines: "auth helper", "group helper"
  std::vector<std::string> argv; // program and arguments
  unsigned children = 5;         // processes at most (per worker)
  // Requests in flight per child. 0: one at a time without channel IDs (what most Debian
  // helpers speak); N > 0: "ID fields" lines, up to N outstanding per child.
  unsigned concurrency = 0;
  size_t queueLimit = 100;   // requests waiting for a free child; beyond: refused at once
  uint64_t timeoutMs = 5000; // from submit to reply; a child that misses it is killed
};

// How a request ended. Everything but Replied means the helper could not answer.
enum class HelperOutcome {
  Replied,    // a reply with OK, ERR or BH (see HelperReply::result)
  Timeout,    // no reply within timeoutMs (queued or in flight)
  HelperDied, // the child exited, answered garbage, or could not be started
  ShutDown,   // the pool closed
};
const char* outcomeName(HelperOutcome outcome);

class HelperPool {
public:
  using Callback = std::function<void(HelperOutcome, const HelperReply&)>;

  HelperPool(uv::Loop& loop, HelperPoolOptions options);
  ~HelperPool();
  HelperPool(const HelperPool&) = delete;
  HelperPool& operator=(const HelperPool&) = delete;

  // Queues `fields` (already escaped, no newline). Returns false at once when the queue is
  // full; otherwise `done` runs later on the loop, exactly once (with ShutDown if the pool
  // closes first), never from inside submit().
  bool submit(std::string fields, Callback done);
  // Kills the children and closes the timer (on the loop thread, before it stops).
  void close();

  const HelperPoolOptions& options() const { return options_; }
  size_t queued() const { return queue_.size(); }
  size_t liveChildren() const;

  struct Child; // one process and its requests in flight
  struct Request;

private:
  friend struct Child;
  struct TimerHook;
  void pump();   // hands queued requests to children, starting them as needed
  void onTick(); // timeouts and restarts
  void onChildLine(Child& child, const std::string& line);
  void onChildEnded(Child& child, const std::string& why);
  void failChild(Child& child, HelperOutcome outcome, const std::string& why);
  bool spawnInto(size_t slot);
  void armTimer();
  void complete(std::unique_ptr<Request> request, HelperOutcome outcome, const HelperReply& reply);

  uv::Loop& loop_;
  HelperPoolOptions options_;
  std::vector<Child*> children_;               // fixed slots; nullptr: not running
  std::vector<uint64_t> restartAt_;            // loop time before which a slot stays empty
  std::vector<uint64_t> backoffMs_;            // the slot's next back-off
  std::deque<std::unique_ptr<Request>> queue_; // waiting for a child
  uint64_t nextChannel_ = 0;
  uv::Timer* timer_ = nullptr;
  TimerHook* timerHook_ = nullptr;
  bool closed_ = false;
  bool timerArmed_ = false;
};

} // namespace gatehouse::auth
