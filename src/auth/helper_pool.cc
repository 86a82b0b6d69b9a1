#include "gatehouse/auth/helper_pool.h"

#include <algorithm>

#include "gatehouse/auth/basic_credentials.h"
#include "gatehouse/log/log.h"
#include "gatehouse/uv/loop.h"
#include "gatehouse/uv/process.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::auth {

namespace {
constexpr uint64_t kFirstBackoffMs = 100;
constexpr uint64_t kMaxBackoffMs = 10'000;
} // namespace

const char* outcomeName(HelperOutcome outcome) {
  switch (outcome) {
  case HelperOutcome::Replied:
    return "replied";
  case HelperOutcome::Timeout:
    return "timed out";
  case HelperOutcome::HelperDied:
    return "failed";
  case HelperOutcome::ShutDown:
    return "shut down";
  }
  return "unknown";
}

// One lookup: its line until written, then its channel and deadline.
struct HelperPool::Request {
  uint64_t channel = 0;
  std::string fields; // wiped once written: it may carry a password
  Callback done;
  uint64_t deadline = 0;
  ~Request() { wipe(fields); } // dropped unsent (timeout, shutdown): still wiped
};

// One helper process. Owned by the pool while running; once closed it owns itself and is
// freed when its handles have closed (the pool may be gone by then).
struct HelperPool::Child final : uv::ProcessHandler {
  HelperPool* pool = nullptr; // null once the child is closing
  uv::ChildProcess* process = nullptr;
  size_t slot = 0;
  LineSplitter splitter;
  std::deque<std::unique_ptr<Request>> inFlight; // in write order

  void onProcessOutput(uv::ChildProcess&, std::string_view bytes) override {
    if (pool == nullptr) {
      return;
    }
    if (!splitter.feed(bytes)) {
      pool->failChild(*this, HelperOutcome::HelperDied, "answered a line over 8 KiB");
      return;
    }
    while (pool != nullptr) {
      auto line = splitter.next();
      if (!line) {
        break;
      }
      pool->onChildLine(*this, *line);
    }
  }
  void onProcessEnded(uv::ChildProcess&, int64_t status, int signal) override {
    if (pool == nullptr) {
      return;
    }
    pool->onChildEnded(*this, signal != 0 ? "was killed by signal " + std::to_string(signal)
                                          : "exited with status " + std::to_string(status));
  }
  void onProcessClosed(uv::ChildProcess&) override { delete this; }
};

// The timer's handler outlives the pool until the timer's close callback.
struct HelperPool::TimerHook final : uv::TimerHandler {
  HelperPool* pool = nullptr;
  void onTimer(uv::Timer&) override {
    if (pool != nullptr) {
      pool->timerArmed_ = false;
      pool->onTick();
    }
  }
  void onTimerClosed(uv::Timer&) override { delete this; }
};

HelperPool::HelperPool(uv::Loop& loop, HelperPoolOptions options)
    : loop_(loop), options_(std::move(options)) {
  options_.children = std::max(1u, options_.children);
  children_.assign(options_.children, nullptr);
  restartAt_.assign(options_.children, 0);
  backoffMs_.assign(options_.children, kFirstBackoffMs);
  timerHook_ = new TimerHook;
  timerHook_->pool = this;
  timer_ = uv::Timer::create(loop_, timerHook_);
}

HelperPool::~HelperPool() {
  close();
}

size_t HelperPool::liveChildren() const {
  return static_cast<size_t>(
      std::count_if(children_.begin(), children_.end(), [](Child* c) { return c != nullptr; }));
}

void HelperPool::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  timerHook_->pool = nullptr;
  timer_->close();
  std::vector<std::unique_ptr<Request>> failed;
  for (Child*& child : children_) {
    if (child != nullptr) {
      child->pool = nullptr;
      for (auto& r : child->inFlight) {
        failed.push_back(std::move(r));
      }
      child->process->close();
      child = nullptr;
    }
  }
  for (auto& r : queue_) {
    failed.push_back(std::move(r));
  }
  queue_.clear();
  for (auto& r : failed) {
    complete(std::move(r), HelperOutcome::ShutDown, HelperReply{});
  }
}

bool HelperPool::submit(std::string fields, Callback done) {
  if (closed_ || queue_.size() >= options_.queueLimit) {
    wipe(fields);
    return false;
  }
  auto request = std::make_unique<Request>();
  request->channel = nextChannel_++;
  request->fields = std::move(fields);
  request->done = std::move(done);
  request->deadline = loop_.now() + options_.timeoutMs;
  queue_.push_back(std::move(request));
  pump();
  armTimer();
  return true;
}

bool HelperPool::spawnInto(size_t slot) {
  auto* child = new Child;
  child->pool = this;
  child->slot = slot;
  std::string error;
  child->process = uv::ChildProcess::spawn(loop_, options_.argv, child, error);
  if (child->process == nullptr) {
    delete child;
    restartAt_[slot] = loop_.now() + backoffMs_[slot];
    log::diag().error("{} {}: cannot start ({}); retrying in {} ms", options_.name,
                      options_.argv.front(), error, backoffMs_[slot]);
    backoffMs_[slot] = std::min(backoffMs_[slot] * 2, kMaxBackoffMs);
    return false;
  }
  children_[slot] = child;
  log::diag().info("{} {} started (pid {})", options_.name, options_.argv.front(),
                   child->process->pid());
  return true;
}

void HelperPool::pump() {
  const size_t perChild = std::max(1u, options_.concurrency);
  while (!queue_.empty() && !closed_) {
    // The least busy running child with room, else a new one in a free slot.
    Child* best = nullptr;
    for (Child* c : children_) {
      if (c != nullptr && c->inFlight.size() < perChild &&
          (best == nullptr || c->inFlight.size() < best->inFlight.size())) {
        best = c;
      }
    }
    if (best == nullptr || !best->inFlight.empty()) {
      for (size_t slot = 0; slot < children_.size(); ++slot) {
        if (children_[slot] == nullptr && restartAt_[slot] <= loop_.now() && spawnInto(slot)) {
          best = children_[slot];
          break;
        }
      }
    }
    if (best == nullptr) {
      return; // every child busy or waiting out its back-off
    }
    std::unique_ptr<Request> request = std::move(queue_.front());
    queue_.pop_front();
    // One buffer reserved up front: no reallocation leaves a copy of a password behind.
    std::string line;
    line.reserve(request->fields.size() + 24);
    if (options_.concurrency > 0) {
      line += std::to_string(request->channel);
      line += ' ';
    }
    line += request->fields;
    line += '\n';
    wipe(request->fields);
    const bool written = best->process->write(line);
    wipe(line);
    best->inFlight.push_back(std::move(request));
    if (!written) {
      failChild(*best, HelperOutcome::HelperDied, "stopped reading its input");
    }
  }
}

void HelperPool::onChildLine(Child& child, const std::string& line) {
  auto reply = parseHelperReply(line, options_.concurrency > 0);
  if (!reply || reply->result == HelperResult::Unknown) {
    // Never the line itself: a confused helper may echo what it was sent.
    failChild(child, HelperOutcome::HelperDied,
              "answered garbage (" + std::to_string(line.size()) +
                  " bytes that are not an OK/ERR/BH reply)");
    return;
  }
  std::unique_ptr<Request> request;
  if (options_.concurrency == 0) {
    if (child.inFlight.empty()) {
      failChild(child, HelperOutcome::HelperDied, "answered when nothing was asked");
      return;
    }
    request = std::move(child.inFlight.front());
    child.inFlight.pop_front();
  } else {
    auto it = std::find_if(child.inFlight.begin(), child.inFlight.end(),
                           [&](const auto& r) { return r->channel == *reply->channel; });
    if (it == child.inFlight.end()) {
      log::diag().warn("{} pid {}: reply for unknown channel {} ignored", options_.name,
                       child.process->pid(), *reply->channel);
      return;
    }
    request = std::move(*it);
    child.inFlight.erase(it);
  }
  backoffMs_[child.slot] = kFirstBackoffMs; // it works: a later crash restarts quickly
  complete(std::move(request), HelperOutcome::Replied, *reply);
  pump();
  armTimer();
}

void HelperPool::onChildEnded(Child& child, const std::string& why) {
  failChild(child, HelperOutcome::HelperDied, why);
}

void HelperPool::failChild(Child& child, HelperOutcome outcome, const std::string& why) {
  if (child.pool == nullptr) {
    return;
  }
  const size_t slot = child.slot;
  log::diag().warn("{} {} (pid {}) {}; {} request(s) failed, restarting in {} ms", options_.name,
                   options_.argv.front(), child.process->pid(), why, child.inFlight.size(),
                   backoffMs_[slot]);
  restartAt_[slot] = loop_.now() + backoffMs_[slot];
  backoffMs_[slot] = std::min(backoffMs_[slot] * 2, kMaxBackoffMs);
  children_[slot] = nullptr;
  child.pool = nullptr;
  auto failed = std::move(child.inFlight);
  child.inFlight.clear();
  child.process->close(); // the child frees itself once closed
  for (auto& r : failed) {
    complete(std::move(r), outcome, HelperReply{});
  }
  if (!closed_) {
    pump();
    armTimer();
  }
}

void HelperPool::complete(std::unique_ptr<Request> request, HelperOutcome outcome,
                          const HelperReply& reply) {
  Callback done = std::move(request->done);
  request.reset();
  if (done) {
    done(outcome, reply);
  }
}

void HelperPool::onTick() {
  if (closed_) {
    return;
  }
  const uint64_t now = loop_.now();
  // A child that missed a deadline is stuck (or out of step): kill it.
  for (Child* child : std::vector<Child*>(children_)) {
    if (child != nullptr && !child->inFlight.empty() && child->inFlight.front()->deadline <= now) {
      failChild(*child, HelperOutcome::Timeout,
                "gave no reply within " + std::to_string(options_.timeoutMs) + " ms");
    }
  }
  std::vector<std::unique_ptr<Request>> expired;
  while (!queue_.empty() && queue_.front()->deadline <= now) {
    expired.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  // No child running and none may start yet (they keep dying): fail fast, don't wait.
  if (!queue_.empty() && liveChildren() == 0 &&
      std::all_of(restartAt_.begin(), restartAt_.end(), [&](uint64_t t) { return t > now; })) {
    log::diag().warn("{} {}: no helper running; {} waiting request(s) failed", options_.name,
                     options_.argv.front(), queue_.size());
    while (!queue_.empty()) {
      auto r = std::move(queue_.front());
      queue_.pop_front();
      complete(std::move(r), HelperOutcome::HelperDied, HelperReply{});
    }
  }
  if (!expired.empty()) {
    log::diag().warn("{} {}: {} request(s) waited {} ms for a free helper", options_.name,
                     options_.argv.front(), expired.size(), options_.timeoutMs);
  }
  for (auto& r : expired) {
    complete(std::move(r), HelperOutcome::Timeout, HelperReply{});
  }
  pump();
  armTimer();
}

void HelperPool::armTimer() {
  if (closed_) {
    return;
  }
  const uint64_t now = loop_.now();
  uint64_t next = UINT64_MAX;
  if (!queue_.empty()) {
    next = queue_.front()->deadline;
    // Fail fast when nothing can run: check again at once.
    if (liveChildren() == 0) {
      next = now;
    }
    for (size_t slot = 0; slot < children_.size(); ++slot) {
      if (children_[slot] == nullptr && restartAt_[slot] > now) {
        next = std::min(next, restartAt_[slot]);
      }
    }
  }
  for (Child* c : children_) {
    if (c != nullptr && !c->inFlight.empty()) {
      next = std::min(next, c->inFlight.front()->deadline);
    }
  }
  if (next == UINT64_MAX) {
    if (timerArmed_) {
      timer_->stop();
      timerArmed_ = false;
    }
    return;
  }
  timer_->start(next > now ? next - now : 0);
  timerArmed_ = true;
}

} // namespace gatehouse::auth
