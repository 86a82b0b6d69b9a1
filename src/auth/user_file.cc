#include "gatehouse/auth/user_file.h"

#include <chrono>
#include <fstream>
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

int64_t mtimeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return -1;
  }
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

} // namespace

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
  return table;
}

AuthStore::AuthStore(AuthOptions options) : options_(std::move(options)) {
  std::string error = load();
  if (!error.empty()) {
    throw std::runtime_error(error);
  }
}

std::string AuthStore::load() {
  std::ifstream in(options_.path, std::ios::binary);
  if (!in) {
    return options_.path + ": cannot read the user file";
  }
  int64_t mtime = mtimeOf(options_.path);
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
  mtimeNs_ = mtime;
  return "";
}

std::string AuthStore::reload() {
  std::lock_guard<std::mutex> lock(reloadMutex_);
  std::string error = load();
  if (!error.empty()) {
    // Whatever was read, the mtime is remembered so a broken file is not retried in a loop.
    mtimeNs_ = mtimeOf(options_.path);
    return error + "; keeping the previous " + std::to_string(users()->users.size()) + " users";
  }
  return "reloaded " + std::to_string(users()->users.size()) + " users from " + options_.path;
}

std::string AuthStore::reloadIfChanged() {
  int64_t mtime = mtimeOf(options_.path);
  {
    std::lock_guard<std::mutex> lock(reloadMutex_);
    if (mtime == mtimeNs_) {
      return "";
    }
  }
  return reload();
}

bool AuthStore::throttled(const std::string& address, uint64_t& retryAfterSeconds) {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  auto it = failures_.find(address);
  if (it == failures_.end()) {
    return false;
  }
  uint64_t now = steadyMs();
  uint64_t windowEnd = it->second.windowStartMs + options_.failureWindowMs;
  if (now >= windowEnd) {
    failures_.erase(it);
    return false;
  }
  if (it->second.count < options_.maxFailures) {
    return false;
  }
  retryAfterSeconds = (windowEnd - now + 999) / 1000;
  return true;
}

void AuthStore::recordFailure(const std::string& address) {
  std::lock_guard<std::mutex> lock(failuresMutex_);
  uint64_t now = steadyMs();
  // Bounded: an attacker rotating addresses cannot grow this without limit.
  if (failures_.size() > 100'000) {
    failures_.clear();
  }
  Failures& f = failures_[address];
  if (now >= f.windowStartMs + options_.failureWindowMs) {
    f.windowStartMs = now;
    f.count = 0;
  }
  ++f.count;
}

} // namespace gatehouse::auth
