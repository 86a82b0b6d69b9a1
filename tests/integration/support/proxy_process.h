#pragma once
// The gatehouse binary in a child process, its stderr (diagnostics and access lines) read
// line by line. Header-only: GATEHOUSE_BINARY is defined for the test executable.

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace gatehouse::test {

class ProxyProcess {
public:
  explicit ProxyProcess(std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe2 failed");
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 2);
      std::vector<char*> argv;
      std::string binary = GATEHOUSE_BINARY;
      argv.push_back(binary.data());
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    stderr_ = fds[0];
  }
  ~ProxyProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(stderr_);
  }
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // Reads stderr until a line containing `needle`; returns it ("" on timeout or EOF).
  std::string waitForLine(const std::string& needle, int timeoutMs = 10'000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (true) {
      size_t nl;
      while ((nl = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.find(needle) != std::string::npos) {
          return line;
        }
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      pollfd p{stderr_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) {
        return "";
      }
      char buf[4096];
      ssize_t n = ::read(stderr_, buf, sizeof buf);
      if (n <= 0) {
        return "";
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  // Everything still unread on stderr until EOF (after the process exited) or `timeoutMs`.
  std::string readRest(int timeoutMs = 10'000) {
    std::string rest = std::move(buffer_);
    buffer_.clear();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (true) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      pollfd p{stderr_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) {
        return rest;
      }
      char buf[4096];
      ssize_t n = ::read(stderr_, buf, sizeof buf);
      if (n <= 0) {
        return rest;
      }
      rest.append(buf, static_cast<size_t>(n));
    }
  }
  // The port of the first "listening on 127.0.0.1:PORT" line, or 0 when none came.
  uint16_t waitForPort(const std::string& prefix = "listening on 127.0.0.1:") {
    std::string line = waitForLine(prefix);
    if (line.empty()) {
      return 0;
    }
    return static_cast<uint16_t>(std::stoi(line.substr(line.find(prefix) + prefix.size())));
  }
  void signal(int sig) { ::kill(pid_, sig); }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

private:
  pid_t pid_ = -1;
  int stderr_ = -1;
  std::string buffer_;
};

} // namespace gatehouse::test
