#pragma once
// An append-only file sink that can reopen its file by name (logrotate's convention: the file
// was renamed away, SIGUSR1 asks the process to start a new one under the old name).

#include <cstdio>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace gatehouse::log {

class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  // Opens `path` for appending; throws spdlog::spdlog_ex when it cannot.
  explicit ReopenableFileSink(const std::string& path);
  ~ReopenableFileSink() override;
  ReopenableFileSink(const ReopenableFileSink&) = delete;
  ReopenableFileSink& operator=(const ReopenableFileSink&) = delete;
  // Closes and reopens the file by name. On failure lines are dropped until a later reopen
  // succeeds; returns an error message, or "" on success.
  std::string reopen();
  const std::string& path() const { return path_; }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

private:
  std::string path_;
  std::FILE* file_ = nullptr; // opened with O_CLOEXEC; null after a failed reopen
};

} // namespace gatehouse::log
