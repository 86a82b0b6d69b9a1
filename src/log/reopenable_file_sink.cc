#include "gatehouse/log/reopenable_file_sink.h"

namespace gatehouse::log {

ReopenableFileSink::ReopenableFileSink(const std::string& path) : path_(path) {
  file_.open(path, false);
  open_ = true;
}

std::string ReopenableFileSink::reopen() {
  std::lock_guard lock(mutex_);
  try {
    file_.close();
    open_ = false;
    file_.open(path_, false);
    open_ = true;
    return "";
  } catch (const spdlog::spdlog_ex& e) {
    return e.what();
  }
}

void ReopenableFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (!open_) {
    return; // a failed reopen: drop rather than write to a closed file
  }
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  file_.write(formatted);
}

void ReopenableFileSink::flush_() {
  if (open_) {
    file_.flush();
  }
}

} // namespace gatehouse::log
