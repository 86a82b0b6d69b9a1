#include "gatehouse/auth/group_resolver.h"

#include <algorithm>

#include "gatehouse/log/log.h"
#include "gatehouse/uv/loop.h"

namespace gatehouse::auth {

namespace {

// One caller waiting on a group lookup; its handle clears `done` when the caller goes away.
struct GroupWaiter {
  GroupResolver::Done done;
};

class GroupWaiterHandle final : public uv::WorkRequest {
public:
  explicit GroupWaiterHandle(std::shared_ptr<GroupWaiter> waiter) : waiter_(std::move(waiter)) {}
  ~GroupWaiterHandle() override { cancel(); }
  void cancel() override { waiter_->done = nullptr; }

private:
  std::shared_ptr<GroupWaiter> waiter_;
};

} // namespace

const char* groupAnswerName(GroupAnswer answer) {
  switch (answer) {
  case GroupAnswer::Member:
    return "member";
  case GroupAnswer::NotMember:
    return "not a member";
  case GroupAnswer::Unavailable:
    return "unavailable";
  }
  return "unknown";
}

// One helper request and everyone asking the same (user, group) meanwhile.
struct GroupResolver::Flight {
  std::vector<std::shared_ptr<GroupWaiter>> waiters;
};

GroupResolver::GroupResolver(uv::Loop& loop, const AuthStore& store)
    : loop_(loop), options_(store.options()), table_(store.groups()) {
  if (!options_.groupHelperArgv.empty()) {
    HelperPoolOptions pool;
    pool.name = "group helper";
    pool.argv = options_.groupHelperArgv;
    pool.children = options_.groupHelperChildren;
    pool.concurrency = options_.groupHelperConcurrency;
    pool.queueLimit = options_.helperQueue;
    pool.timeoutMs = options_.helperTimeoutMs;
    pool_ = std::make_unique<HelperPool>(loop_, std::move(pool));
  }
}

GroupResolver::~GroupResolver() {
  close();
}

void GroupResolver::close() {
  for (auto& [key, flight] : flights_) {
    for (auto& waiter : flight->waiters) {
      waiter->done = nullptr;
    }
  }
  if (pool_) {
    pool_->close();
  }
}

std::optional<GroupAnswer> GroupResolver::isMember(std::string_view user, std::string_view group,
                                                   Done done, PendingCheck& pending) {
  if (!pool_) {
    auto it = table_->find(std::string(group));
    const bool member = it != table_->end() &&
                        std::find(it->second.begin(), it->second.end(), user) != it->second.end();
    return member ? GroupAnswer::Member : GroupAnswer::NotMember;
  }
  std::string key(user);
  key.push_back('\0');
  key += group;
  if (auto cached = cache_.find(key); cached != cache_.end()) {
    if (cached->second.expiresAt > loop_.now()) {
      return cached->second.member ? GroupAnswer::Member : GroupAnswer::NotMember;
    }
    cache_.erase(cached);
  }
  auto flight = flights_.find(key);
  if (flight == flights_.end()) {
    // ext_ldap_group_acl and friends read "user group", each field %-escaped.
    const bool queued = pool_->submit(helperEscape(user) + " " + helperEscape(group),
                                      [this, key](HelperOutcome outcome, const HelperReply& reply) {
                                        finish(key, outcome, reply);
                                      });
    if (!queued) {
      log::diag().warn("group helper queue full: group check answered unavailable");
      return GroupAnswer::Unavailable;
    }
    flight = flights_.emplace(key, std::make_shared<Flight>()).first;
  }
  auto waiter = std::make_shared<GroupWaiter>(GroupWaiter{std::move(done)});
  flight->second->waiters.push_back(waiter);
  pending = std::make_unique<GroupWaiterHandle>(std::move(waiter));
  return std::nullopt;
}

void GroupResolver::finish(const std::string& key, HelperOutcome outcome,
                           const HelperReply& reply) {
  GroupAnswer answer = GroupAnswer::Unavailable;
  if (outcome == HelperOutcome::Replied && reply.result == HelperResult::Ok) {
    answer = GroupAnswer::Member;
  } else if (outcome == HelperOutcome::Replied && reply.result == HelperResult::Err) {
    answer = GroupAnswer::NotMember;
  } else if (outcome == HelperOutcome::Replied) {
    log::diag().warn("group helper could not decide (BH{}{})",
                     reply.note("message").empty() ? "" : ": ",
                     loggableReply(reply.note("message")));
  }
  if (answer != GroupAnswer::Unavailable) {
    // BH and failures are never cached: the next request asks again.
    if (cache_.size() >= kMaxCacheEntries) {
      const uint64_t now = loop_.now();
      std::erase_if(cache_, [now](const auto& item) { return item.second.expiresAt <= now; });
      if (cache_.size() >= kMaxCacheEntries) {
        cache_.erase(cache_.begin());
      }
    }
    const bool member = answer == GroupAnswer::Member;
    cache_[key] = CacheEntry{
        member, loop_.now() + (member ? options_.groupTtlMs : options_.groupNegativeTtlMs)};
  }
  auto it = flights_.find(key);
  if (it == flights_.end()) {
    return;
  }
  std::shared_ptr<Flight> flight = std::move(it->second);
  flights_.erase(it);
  for (auto& waiter : flight->waiters) {
    if (Done done = std::move(waiter->done)) {
      done(answer);
    }
  }
}

} // namespace gatehouse::auth
