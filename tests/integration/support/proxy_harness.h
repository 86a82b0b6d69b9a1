#pragma once
// Runs the proxy in-process on 127.0.0.1:0 (one worker, short timeouts) and captures its
// diagnostic and access lines so tests can assert on what an operator would read.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/proxy/server.h"
#include "sockets.h"

namespace gatehouse::test {

// Every log line the proxy writes, shared by all tests in the binary.
class LogCapture {
public:
  static LogCapture& instance();
  // Marks the current end: later lookups only see lines written after it.
  size_t mark();
  // Waits for a line written after `from` that contains every one of `parts`.
  std::string waitFor(size_t from, std::vector<std::string> parts,
                      std::chrono::milliseconds timeout = kIoTimeout);
  std::vector<std::string> linesSince(size_t from);
  void append(std::string line);

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

// Test defaults: one worker, port 0, short timeouts, CONNECT to any port, loopback DNS only.
config::Config testConfig();

class ProxyHarness {
public:
  explicit ProxyHarness(config::Config config = testConfig());
  ~ProxyHarness();
  uint16_t port() const { return server_->boundAddresses().front().port(); }
  const std::string& pseudonym() const { return server_->pseudonym(); }
  Socket connect() const { return Socket::connectTo(port()); }
  proxy::Server& server() { return *server_; }
  size_t logMark() const { return logMark_; }
  // A log line since this proxy started containing all `parts`.
  std::string waitForLog(std::vector<std::string> parts,
                         std::chrono::milliseconds timeout = kIoTimeout) {
    return LogCapture::instance().waitFor(logMark_, std::move(parts), timeout);
  }

private:
  std::unique_ptr<proxy::Server> server_;
  size_t logMark_;
};

// Runs a shell command; returns its standard output and sets `exitCode`.
std::string runCommand(const std::string& command, int* exitCode = nullptr);

} // namespace gatehouse::test
