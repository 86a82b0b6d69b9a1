#pragma once
// Apache htpasswd user files ("user:hash" per line) and the shared, reloadable user table.

#include <atomic>
#include <cstdint>
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
};

// Parses htpasswd text. Lines that cannot be used are skipped and reported in `warnings` as
// "file:line: why"; users whose hash format is unknown are kept (their logins are refused
// with "unsupported hash format") and reported too.
std::shared_ptr<UserTable> parseUserFile(const std::string& text, const std::string& name,
                                         bool allowPlain, std::vector<std::string>& warnings);

// Settings for proxy authentication.
struct AuthOptions {
  std::string path;
  std::string realm = "gatehouse";
  bool allowPlain = false;
  uint64_t cacheTtlMs = 5 * 60 * 1000;
  uint64_t maxFailures = 10; // wrong passwords per address within the window
  uint64_t failureWindowMs = 60 * 1000;
};

// What every worker shares: the current user table (swapped atomically on reload) and the
// per-address failure counts behind brute-force throttling.
class AuthStore {
public:
  // Loads the file; throws std::runtime_error if it cannot be read (a start-up error).
  explicit AuthStore(AuthOptions options);
  const AuthOptions& options() const { return options_; }
  std::shared_ptr<const UserTable> users() const { return users_.load(); }

  // Re-reads the file; on failure keeps the old users. Returns a line for the log.
  std::string reload();
  // Reloads when the file's modification time changed; returns an empty string otherwise.
  std::string reloadIfChanged();
  const std::vector<std::string>& lastWarnings() const { return warnings_; }

  // True (with the seconds to wait) while `address` is over its failure budget.
  bool throttled(const std::string& address, uint64_t& retryAfterSeconds);
  void recordFailure(const std::string& address);

private:
  std::string load(); // returns an error, or empty on success

  AuthOptions options_;
  std::atomic<std::shared_ptr<const UserTable>> users_;
  std::vector<std::string> warnings_;
  int64_t mtimeNs_ = 0;
  uint64_t generation_ = 0;
  std::mutex reloadMutex_;
  std::mutex failuresMutex_;
  struct Failures {
    uint64_t windowStartMs = 0;
    uint64_t count = 0;
  };
  std::unordered_map<std::string, Failures> failures_;
};

} // namespace gatehouse::auth
