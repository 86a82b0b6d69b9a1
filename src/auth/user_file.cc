#include "gatehouse/auth/user_file.h"

#include <algorithm>
#include <chrono>
#include <crypt.h>
#include <cstdlib>
#include <fstream>
#include <map>
#include <openssl/rand.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>

namespace gatehouse::auth {

namespace {

uint64_t steadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

int64_t nanoseconds(const timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// The scheme and cost part of a hash ("$2y$12$", "$6$rounds=9000$", "{SHA}"): entries with
// the same class cost the same to check.
std::string costClass(const UserEntry& entry) {
  const std::string& h = entry.hash;
  switch (entry.format) {
  case HashFormat::Bcrypt:
    return h.substr(0, 7);
  case HashFormat::Sha512Crypt:
  case HashFormat::Sha256Crypt:
    return h.rfind("rounds=", 3) == 3 ? h.substr(0, h.find('$', 3) + 1) : h.substr(0, 3);
  default:
    return formatName(entry.format);
  }
}

std::string randomSalt(size_t n) {
  static constexpr char kChars[] =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char bytes[64];
  RAND_bytes(bytes, static_cast<int>(n));
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kChars[bytes[i] & 63]);
  }
  return out;
}

} // namespace

UserEntry dummyEntryLike(const UserEntry& like) {
  // A setting string (scheme, cost, salt) with no hash: checking any password against it
  // costs a full derivation and never matches.
  UserEntry dummy{"$2y$10$" + randomSalt(22), HashFormat::Bcrypt};
  const std::string& h = like.hash;
  auto gensalt = [&](const char* prefix, unsigned long count) {
    char out[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn(prefix, count, nullptr, 0, out, sizeof out) != nullptr) {
      dummy = UserEntry{out, like.format};
    }
  };
  switch (like.format) {
  case HashFormat::Bcrypt:
    gensalt(h.substr(0, 4).c_str(), std::strtoul(h.c_str() + 4, nullptr, 10));
    break;
  case HashFormat::Sha512Crypt:
  case HashFormat::Sha256Crypt:
    gensalt(h.substr(0, 3).c_str(),
            h.rfind("rounds=", 3) == 3 ? std::strtoul(h.c_str() + 10, nullptr, 10) : 0);
    break;
  case HashFormat::Md5Crypt:
    gensalt("$1$", 0);
    break;
  case HashFormat::AprMd5:
    dummy = UserEntry{"$apr1$" + randomSalt(8) + "$", like.format};
    break;
  case HashFormat::Sha1:
    dummy = UserEntry{"{SHA}" + randomSalt(27) + "=", like.format};
    break;
  case HashFormat::Plain:
    dummy = UserEntry{randomSalt(32), like.format};
    break;
  case HashFormat::Unknown:
    break;
  }
  return dummy;
}

GroupTable parseGroupFile(const std::string& text, const std::string& name,
                          std::vector<std::string>& warnings) {
  GroupTable groups;
  std::istringstream in(text);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') {
      continue;
    }
    size_t colon = line.find(':');
    std::string group = colon == std::string::npos ? "" : line.substr(first, colon - first);
    while (!group.empty() && (group.back() == ' ' || group.back() == '\t')) {
      group.pop_back();
    }
    if (group.empty() || group.find_first_of(" \t") != std::string::npos) {
      warnings.push_back(name + ":" + std::to_string(number) +
                         ": not a \"group: user ...\" line; skipped");
      continue;
    }
    std::vector<std::string>& members = groups[group]; // a group listed twice: members merge
    std::istringstream users(line.substr(colon + 1));
    std::string user;
    while (users >> user) {
      members.push_back(user);
    }
  }
  return groups;
}

std::shared_ptr<UserTable> parseUserFile(const std::string& text, const std::string& name,
                                         bool allowPlain, std::vector<std::string>& warnings) {
  auto table = std::make_shared<UserTable>();
  std::istringstream in(text);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const std::string where = name + ":" + std::to_string(number) + ": ";
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      warnings.push_back(where + "not a user:hash line; skipped");
      continue;
    }
    std::string user = line.substr(0, colon);
    std::string hash = line.substr(colon + 1);
    if (hash.empty()) {
      warnings.push_back(where + "user \"" + user + "\" has no hash; skipped");
      continue;
    }
    if (table->users.count(user) > 0) {
      warnings.push_back(where + "user \"" + user + "\" listed again; the first entry counts");
      continue;
    }
    HashFormat format = detectFormat(hash, allowPlain);
    if (format == HashFormat::Unknown) {
      warnings.push_back(where + "user \"" + user +
                         "\": unsupported hash format (logins will be refused; plain text needs "
                         "auth_plaintext = true)");
    }
    table->users.emplace(std::move(user), UserEntry{std::move(hash), format});
  }
  // The most common scheme and cost (ties: the first in the file's order does not matter,
  // any of equal count is as representative).
  std::map<std::string, std::pair<size_t, const UserEntry*>> classes;
  for (const auto& [user, entry] : table->users) {
    if (entry.format != HashFormat::Unknown) {
      auto& c = classes[costClass(entry)];
      ++c.first;
      c.second = &entry;
    }
  }
  const UserEntry* common = nullptr;
  size_t best = 0;
  for (const auto& [cls, c] : classes) {
    if (c.first > best) {
      best = c.first;
      common = c.second;
    }
  }
  table->dummy = dummyEntryLike(common != nullptr ? *common : UserEntry{"", HashFormat::Unknown});
  return table;
}

AuthStore::AuthStore(AuthOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) {
    // A helper decides: no user table, but one generation so cached answers stay valid.
    auto table = std::make_shared<UserTable>();
    table->generation = ++generation_;
    users_.store(std::move(table));
  } else if (std::string error = load(); !error.empty()) {
    throw std::runtime_error(error);
  }
  auto groups = std::make_shared<GroupTable>();
  if (!options_.groupFile.empty()) {
    groupStamp_ = FileStamp::of(options_.groupFile);
    std::ifstream in(options_.groupFile, std::ios::binary);
    if (!in) {
      throw std::runtime_error(options_.groupFile + ": cannot read the group file");
    }
    std::ostringstream text;
    text << in.rdbuf();
    *groups = parseGroupFile(text.str(), options_.groupFile, warnings_);
  }
  groups_ = std::move(groups);
}

FileStamp FileStamp::of(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<int64_t>(st.st_size), nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
}

bool AuthStore::unchangedFor(const AuthOptions& options) {
  if (!(options == options_)) {
    return false;
  }
  std::lock_guard<std::mutex> lock(reloadMutex_);
  return FileStamp::of(options_.path) == stamp_ && FileStamp::of(options_.groupFile) == groupStamp_;
}

std::string AuthStore::load() {
  std::ifstream in(options_.path, std::ios::binary);
  if (!in) {
    return options_.path + ": cannot read the user file";
  }
  FileStamp stamp = FileStamp::of(options_.path);
  std::ostringstream text;
  text << in.rdbuf();
  std::vector<std::string> warnings;
  auto table = parseUserFile(text.str(), options_.path, options_.allowPlain, warnings);
  if (table->users.empty()) {
    warnings_ = warnings;
    return options_.path + ": no usable user in the file";
  }
  table->generation = ++generation_;
  users_.store(std::move(table));
  warnings_ = std::move(warnings);
  stamp_ = stamp;
  return "";
}

std::string AuthStore::reload() {
  if (options_.path.empty()) {
    return "";
  }
  std::lock_guard<std::mutex> lock(reloadMutex_);
  std::string error = load();
  if (!error.empty()) {
    // Whatever was read, the mtime is remembered so a broken file is not retried in a loop.
    stamp_ = FileStamp::of(options_.path);
    return error + "; keeping the previous " + std::to_string(users()->users.size()) + " users";
  }
  return "reloaded " + std::to_string(users()->users.size()) + " users from " + options_.path;
}

std::string AuthStore::reloadIfChanged() {
  if (options_.path.empty()) {
    return "";
  }
  FileStamp stamp = FileStamp::of(options_.path);
  {
    std::lock_guard<std::mutex> lock(reloadMutex_);
    if (stamp == stamp_) {
      return "";
    }
  }
  return reload();
}

namespace {
std::string throttleKey(const std::string& address, const std::string& user) {
  std::string key = address;
  key.push_back('\0');
  key += user;
  return key;
}
} // namespace

AuthStore::Failures& AuthStore::failuresFor(const std::string& key, uint64_t now) {
  auto it = failures_.find(key);
  if (it != failures_.end()) {
    failureOrder_.splice(failureOrder_.begin(), failureOrder_, it->second);
  } else {
    // Evict the least recently used entry that has no check in flight (an in-flight count
    // must survive until its check ends).
    if (failures_.size() >= std::max<size_t>(1, options_.throttleEntries)) {
      for (auto victim = failureOrder_.rbegin(); victim != failureOrder_.rend(); ++victim) {
        if (victim->inFlight == 0) {
          failures_.erase(victim->key);
          failureOrder_.erase(std::next(victim).base());
          break;
        }
      }
    }
    failureOrder_.push_front(Failures{key, now, 0, 0});
    it = failures_.emplace(key, failureOrder_.begin()).first;
  }
  Failures& f = *it->second;
  if (now >= f.windowStartMs + options_.failureWindowMs) {
    f.windowStartMs = now;
    f.count = 0;
  }
  return f;
}

bool AuthStore::throttled(const std::string& address, const std::string& user,
                          uint64_t& retryAfterSeconds) {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  auto it = failures_.find(throttleKey(address, user));
  if (it == failures_.end()) {
    return false;
  }
  const uint64_t now = steadyMs();
  Failures& f = *it->second;
  uint64_t windowEnd = f.windowStartMs + options_.failureWindowMs;
  if (now >= windowEnd) {
    f.windowStartMs = now;
    f.count = 0;
    windowEnd = now + options_.failureWindowMs;
  }
  if (f.count + f.inFlight < options_.maxFailures) {
    return false;
  }
  retryAfterSeconds = std::max<uint64_t>(1, (windowEnd - now + 999) / 1000);
  return true;
}

void AuthStore::beginAttempt(const std::string& address, const std::string& user) {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  ++failuresFor(throttleKey(address, user), steadyMs()).inFlight;
}

void AuthStore::endAttempt(const std::string& address, const std::string& user, bool failed) {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  Failures& f = failuresFor(throttleKey(address, user), steadyMs());
  if (f.inFlight > 0) {
    --f.inFlight;
  }
  if (failed) {
    ++f.count;
  } else if (f.count == 0 && f.inFlight == 0) {
    // Nothing to remember about a clean success: keep the table for those who fail.
    auto it = failures_.find(f.key);
    failureOrder_.erase(it->second);
    failures_.erase(it);
  }
}

size_t AuthStore::throttleEntries() {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  return failures_.size();
}

} // namespace gatehouse::auth
