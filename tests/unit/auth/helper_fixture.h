#pragma once
// For tests that run helpers: small shell scripts in a throw-away directory, and a watchdog
// that ends a loop that would otherwise wait forever on a broken expectation.

#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "gatehouse/uv/timer.h"

namespace gatehouse::test {

class ScriptDir {
public:
  ScriptDir() {
    char dir[] = "/tmp/gatehouse-helper-XXXXXX";
    dir_ = ::mkdtemp(dir);
  }
  ~ScriptDir() { std::system(("rm -rf " + dir_).c_str()); }
  // Writes an executable /bin/sh script with `body`; returns its path.
  std::string script(const std::string& name, const std::string& body) const {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), 0755);
    return path;
  }
  std::string file(const std::string& name, const std::string& text) const {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  const std::string& path() const { return dir_; }

private:
  std::string dir_;
};

// Fires `onFire` once after `ms` unless stopped first; frees itself when its timer closes.
class Watchdog final : public uv::TimerHandler {
public:
  static Watchdog* start(uv::Loop& loop, uint64_t ms, std::function<void()> onFire) {
    auto* dog = new Watchdog;
    dog->onFire_ = std::move(onFire);
    dog->timer_ = uv::Timer::create(loop, dog);
    dog->timer_->start(ms);
    return dog;
  }
  void stop() {
    if (!stopped_) {
      stopped_ = true;
      timer_->close();
    }
  }
  void onTimer(uv::Timer&) override {
    if (onFire_) {
      onFire_();
    }
    stop();
  }
  void onTimerClosed(uv::Timer&) override { delete this; }

private:
  std::function<void()> onFire_;
  uv::Timer* timer_ = nullptr;
  bool stopped_ = false;
};

} // namespace gatehouse::test
