#pragma once
// Work off the loop thread (libuv's thread pool), for what would block the loop: slow password
// hashes. The result comes back on the loop thread.

#include <functional>
#include <memory>

namespace gatehouse::uv {

class Loop;

// A queued job; cancel() or destruction guarantees `done` never runs (the job itself may
// still run to completion on its thread).
class WorkRequest {
public:
  virtual ~WorkRequest() = default;
  virtual void cancel() = 0;
};
using WorkRequestPtr = std::unique_ptr<WorkRequest>;

// Runs `work` on the thread pool, then `done` on the loop thread.
WorkRequestPtr queueWork(Loop& loop, std::function<void()> work, std::function<void()> done);

} // namespace gatehouse::uv
