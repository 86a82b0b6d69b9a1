#pragma once
// "Is this user in group G?" for the policy layer, from an htgroup file (answered at once) or
// a Squid external ACL helper such as ext_ldap_group_acl ("user group" -> OK/ERR), cached
// with a positive and a negative lifetime. A helper's BH or silence is never cached.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gatehouse/auth/helper_pool.h"
#include "gatehouse/auth/user_file.h"
#include "gatehouse/uv/work.h"

namespace gatehouse::uv {
class Loop;
}

namespace gatehouse::auth {

// A pending asynchronous check: destroying it (or cancel()) guarantees its callback never
// runs, so a connection that closes mid-lookup is never called back.
using PendingCheck = uv::WorkRequestPtr;

enum class GroupAnswer {
  Member,
  NotMember,
  Unavailable, // the helper failed (BH, timeout, crash, queue full): decide as policy says
};
const char* groupAnswerName(GroupAnswer answer);

class GroupResolver {
public:
  using Done = std::function<void(GroupAnswer)>;
  static constexpr size_t kMaxCacheEntries = 10'000;

  // From the store's group file, or (when `options.groupHelperArgv` is set) a helper pool.
  GroupResolver(uv::Loop& loop, const AuthStore& store);
  ~GroupResolver();
  GroupResolver(const GroupResolver&) = delete;
  GroupResolver& operator=(const GroupResolver&) = delete;

  // Answers at once when it can (file, cache, helper queue full); otherwise stores a handle
  // in `pending`, returns nullopt and calls `done` on the loop later (never if `pending` was
  // destroyed first). Concurrent questions about the same pair share one helper request.
  std::optional<GroupAnswer> isMember(std::string_view user, std::string_view group, Done done,
                                      PendingCheck& pending);
  // Stops the helper processes (before the loop stops).
  void close();

private:
  struct Flight;
  struct CacheEntry {
    bool member = false;
    uint64_t expiresAt = 0;
  };
  void finish(const std::string& key, HelperOutcome outcome, const HelperReply& reply);

  uv::Loop& loop_;
  const AuthOptions& options_;
  std::shared_ptr<const GroupTable> table_;
  std::unique_ptr<HelperPool> pool_; // null for the file backend
  std::unordered_map<std::string, CacheEntry> cache_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

} // namespace gatehouse::auth
