#include "gatehouse/log/reopenable_file_sink.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace gatehouse::log {

namespace {
// Opens for appending with O_CLOEXEC: an auth helper the proxy spawns must not inherit the
// log (spdlog's own file helper opens without it).
std::FILE* openForAppend(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = "cannot open " + path + " for appending: " + std::strerror(errno);
    return nullptr;
  }
  std::FILE* file = ::fdopen(fd, "a");
  if (file == nullptr) {
    error = "cannot open " + path + " for appending: " + std::strerror(errno);
    ::close(fd);
  }
  return file;
}
} // namespace

ReopenableFileSink::ReopenableFileSink(const std::string& path) : path_(path) {
  std::string error;
  file_ = openForAppend(path_, error);
  if (file_ == nullptr) {
    throw spdlog::spdlog_ex(error);
  }
}

ReopenableFileSink::~ReopenableFileSink() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

std::string ReopenableFileSink::reopen() {
  std::lock_guard lock(mutex_);
  if (file_ != nullptr) {
    std::fclose(file_);
  }
  std::string error;
  file_ = openForAppend(path_, error); // null: lines are dropped until a reopen succeeds
  return error;
}

void ReopenableFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (file_ == nullptr) {
    return; // a failed reopen: drop rather than write to a closed file
  }
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  std::fwrite(formatted.data(), 1, formatted.size(), file_);
}

void ReopenableFileSink::flush_() {
  if (file_ != nullptr) {
    std::fflush(file_);
  }
}

} // namespace gatehouse::log
