#include "gatehouse/uv/work.h"

#include <atomic>
#include <uv.h>

#include "gatehouse/uv/loop.h"

namespace gatehouse::uv {

namespace {

// Shared by libuv (through the request) and the caller's handle.
struct Job {
  uv_work_t req;
  std::function<void()> work;
  std::function<void()> done;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

class Handle final : public WorkRequest {
public:
  explicit Handle(std::shared_ptr<std::atomic<bool>> cancelled)
      : cancelled_(std::move(cancelled)) {}
  ~Handle() override { cancel(); }
  void cancel() override { cancelled_->store(true); }

private:
  std::shared_ptr<std::atomic<bool>> cancelled_;
};

} // namespace

WorkRequestPtr queueWork(Loop& loop, std::function<void()> work, std::function<void()> done) {
  auto* job = new Job;
  job->work = std::move(work);
  job->done = std::move(done);
  job->req.data = job;
  auto handle = std::make_unique<Handle>(job->cancelled);
  int rc = uv_queue_work(
      static_cast<uv_loop_t*>(loop.raw()), &job->req,
      [](uv_work_t* req) noexcept {
        auto* j = static_cast<Job*>(req->data);
        if (!j->cancelled->load()) {
          j->work();
        }
      },
      [](uv_work_t* req, int) noexcept {
        auto* j = static_cast<Job*>(req->data);
        if (!j->cancelled->load() && j->done) {
          j->done();
        }
        delete j;
      });
  if (rc != 0) {
    // Cannot queue (never expected): run inline rather than lose the request.
    job->work();
    auto finish = std::move(job->done);
    delete job;
    finish();
    return nullptr;
  }
  return handle;
}

} // namespace gatehouse::uv
