#include "proxy_harness.h"

#include <catch2/catch.hpp>

#include "gatehouse/proxy/connection_state.h"

#include <array>
#include <cstdio>
#include <spdlog/sinks/base_sink.h>
#include <sys/wait.h>

#include "fake_upstream.h"
#include "gatehouse/log/log.h"

namespace gatehouse::test {

namespace {

// An spdlog sink feeding LogCapture.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    LogCapture::instance().append(fmt::to_string(formatted));
  }
  void flush_() override {}
};

void installCaptureOnce() {
  static bool installed = [] {
    log::setup("debug", "-");
    log::addSink(std::make_shared<CaptureSink>());
    // Keep test output readable: only the capture sink prints nothing to stderr below warn.
    return true;
  }();
  (void)installed;
}

} // namespace

LogCapture& LogCapture::instance() {
  static LogCapture capture;
  return capture;
}

size_t LogCapture::mark() {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_.size();
}

void LogCapture::append(std::string line) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.push_back(std::move(line));
  }
  changed_.notify_all();
}

std::vector<std::string> LogCapture::linesSince(size_t from) {
  std::lock_guard<std::mutex> lock(mutex_);
  return {lines_.begin() + static_cast<long>(std::min(from, lines_.size())), lines_.end()};
}

std::string LogCapture::waitFor(size_t from, std::vector<std::string> parts,
                                std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::string found;
  auto matches = [&] {
    for (size_t i = from; i < lines_.size(); ++i) {
      bool all = true;
      for (const auto& p : parts) {
        all = all && lines_[i].find(p) != std::string::npos;
      }
      if (all) {
        found = lines_[i];
        return true;
      }
    }
    return false;
  };
  changed_.wait_for(lock, timeout, matches);
  return found;
}

config::Config testConfig() {
  config::Config c;
  c.listen = {"127.0.0.1:0"};
  c.workers = 1;
  c.connectPorts = config::PortList::any();
  c.connectTimeoutMs = 2000;
  c.readTimeoutMs = 3000;
  c.responseTimeoutMs = 5000;
  c.idleTimeoutMs = 10000;
  c.requestHeadTimeoutMs = 5000;
  c.dnsTimeoutMs = 1000;
  c.pseudonym = "gh-test";
  // Every fake upstream is on loopback: the SSRF guard (on by default with auth) is tested
  // where it is turned on explicitly.
  c.ssrfGuard = false;
  // Tests assert on the diagnostic line of each refusal; the limit has its own test.
  c.refusedLogLines = 1'000'000;
  // Never ask the machine's resolver: an unused loopback port answers nothing.
  c.dnsServers = "127.0.0.1:" + std::to_string(unusedPort());
  return c;
}

ProxyHarness::ProxyHarness(config::Config config) {
  installCaptureOnce();
  logMark_ = LogCapture::instance().mark();
  server_ = std::make_unique<proxy::Server>(std::move(config));
  server_->start();
}

ProxyHarness::~ProxyHarness() {
  server_->stop();
  // Every connection of the run stayed on the edges connection_state.cc allows.
  CHECK(proxy::illegalTransitions().load() == 0);
}

std::string runCommand(const std::string& command, int* exitCode) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    if (exitCode) {
      *exitCode = -1;
    }
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    out.append(buf.data(), n);
  }
  int status = ::pclose(pipe);
  if (exitCode) {
    *exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return out;
}

} // namespace gatehouse::test
