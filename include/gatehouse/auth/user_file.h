#pragma once
// Apache htpasswd user files ("user:hash" per line) and the shared, reloadable user table.

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gatehouse/auth/password_hash.h"

namespace gatehouse::auth {

struct UserEntry {
  std::string hash;
  HashFormat format = HashFormat::Unknown;
};

// An immutable snapshot of the users; `generation` changes with every successful load so
// cached verifications of an older table are not trusted.
struct UserTable {
  std::unordered_map<std::string, UserEntry> users;
  uint64_t generation = 0;
  // What an unknown user is checked against: the scheme and cost of the file's most common
  // entry, so a name that does not exist costs what one that does costs.
  UserEntry dummy;
};

// A hash of a random password in the same scheme and cost as `like` (for UserTable::dummy).
UserEntry dummyEntryLike(const UserEntry& like);

// Parses htpasswd text. Lines that cannot be used are skipped and reported in `warnings` as
// "file:line: why"; users whose hash format is unknown are kept (their logins are refused
// with "unsupported hash format") and reported too.
std::shared_ptr<UserTable> parseUserFile(const std::string& text, const std::string& name,
                                         bool allowPlain, std::vector<std::string>& warnings);

// Settings for proxy authentication. Exactly one backend: `path` (an htpasswd file) or
// `helperArgv` (a Squid basic auth helper).
struct AuthOptions {
  std::string path;
  std::string realm = "gatehouse";
  bool allowPlain = false;
  uint64_t cacheTtlMs = 5 * 60 * 1000;
  uint64_t maxFailures = 10; // wrong passwords per user and address within the window
  uint64_t failureWindowMs = 60 * 1000;
  size_t throttleEntries = 100'000; // (user, address) failure counters kept, least recent evicted
  size_t maxSlowChecks = 32;        // hash checks queued on the thread pool per worker
  // Squid basic auth helper (empty: the file backend).
  std::vector<std::string> helperArgv;
  unsigned helperChildren = 5;
  unsigned helperConcurrency = 0;
  size_t helperQueue = 100;
  uint64_t helperTimeoutMs = 5000;
  uint64_t negativeTtlMs = 5000; // how long a helper's ERR is remembered
  // Groups: an htgroup file or a Squid external ACL helper ("user group" -> OK/ERR).
  std::string groupFile;
  std::vector<std::string> groupHelperArgv;
  unsigned groupHelperChildren = 2;
  unsigned groupHelperConcurrency = 0;
  uint64_t groupTtlMs = 5 * 60 * 1000;
  uint64_t groupNegativeTtlMs = 60 * 1000;
  bool operator==(const AuthOptions&) const = default;
};

// What tells a file changed without reading it. The change time is in it because tools that
// deploy files (rsync -t, cp -p) keep the modification time of a new content.
struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = -1;
  int64_t mtimeNs = 0;
  int64_t ctimeNs = 0;
  static FileStamp of(const std::string& path); // all zero (size -1) when it cannot be read
  bool operator==(const FileStamp&) const = default;
};

// htgroup text ("group: user1 user2" per line): group -> members. Bad lines are reported in
// `warnings` as "file:line: why" and skipped.
using GroupTable = std::unordered_map<std::string, std::vector<std::string>>;
GroupTable parseGroupFile(const std::string& text, const std::string& name,
                          std::vector<std::string>& warnings);

// What every worker shares: the current user table (swapped atomically on reload) and the
// per-(user, address) failure counts behind brute-force throttling.
class AuthStore {
public:
  // Loads the file (if the backend is a file); throws std::runtime_error if it cannot be read
  // (a start-up error).
  explicit AuthStore(AuthOptions options);
  const AuthOptions& options() const { return options_; }
  std::shared_ptr<const UserTable> users() const { return users_.load(); }

  // Re-reads the file; on failure keeps the old users. Returns a line for the log.
  std::string reload();
  // Reloads when the file's modification time changed; returns an empty string otherwise.
  std::string reloadIfChanged();
  const std::vector<std::string>& lastWarnings() const { return warnings_; }
  // True when a store built from `options` now would load exactly this one: the same settings
  // and files that did not change since they were read. A reload then keeps this store (no
  // re-parse, and the failure counters behind throttling carry on).
  bool unchangedFor(const AuthOptions& options);

  // The group file's table (empty without one), loaded at start.
  std::shared_ptr<const GroupTable> groups() const { return groups_; }

  // True (with the seconds to wait) while `user` from `address` is over its failure budget;
  // checks in flight count against it, so parallel connections get no extra guesses.
  bool throttled(const std::string& address, const std::string& user, uint64_t& retryAfterSeconds);
  // A check for `user` from `address` started / ended (`failed`: a wrong guess).
  void beginAttempt(const std::string& address, const std::string& user);
  void endAttempt(const std::string& address, const std::string& user, bool failed);
  size_t throttleEntries(); // for tests

private:
  std::string load(); // returns an error, or empty on success

  AuthOptions options_;
  std::atomic<std::shared_ptr<const UserTable>> users_;
  std::vector<std::string> warnings_;
  FileStamp stamp_;      // the user file as last read
  FileStamp groupStamp_; // the group file as read at start
  uint64_t generation_ = 0;
  std::mutex reloadMutex_;
  std::shared_ptr<const GroupTable> groups_;
  std::mutex failuresMutex_;
  // One (user, address) pair's count; an LRU list bounds the table without ever wiping the
  // counters of everyone at once.
  struct Failures {
    std::string key;
    uint64_t windowStartMs = 0;
    uint64_t count = 0;
    uint64_t inFlight = 0;
  };
  std::list<Failures> failureOrder_; // most recently used first
  std::unordered_map<std::string, std::list<Failures>::iterator> failures_;
  Failures& failuresFor(const std::string& key, uint64_t now); // creates, evicts, touches
};

} // namespace gatehouse::auth
