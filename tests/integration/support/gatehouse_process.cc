#include "gatehouse_process.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace gatehouse::test {

GatehouseProcess::GatehouseProcess(std::vector<std::string> args)
    : GatehouseProcess(GATEHOUSE_BINARY, std::move(args)) {}

GatehouseProcess::GatehouseProcess(const std::string& program, std::vector<std::string> args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], 2);
    std::vector<char*> argv;
    std::string binary = program;
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

GatehouseProcess::~GatehouseProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ::close(stderr_);
}

namespace {

// Appends what `fd` has within the deadline to `buffer`; false on timeout or EOF.
bool readMore(int fd, std::chrono::steady_clock::time_point deadline, std::string& buffer) {
  int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now())
                                  .count());
  pollfd p{fd, POLLIN, 0};
  if (left <= 0 || ::poll(&p, 1, left) <= 0) {
    return false;
  }
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) {
    return false;
  }
  buffer.append(buf, static_cast<size_t>(n));
  return true;
}

} // namespace

std::string GatehouseProcess::waitForLine(const std::string& needle, int timeoutMs) {
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
    if (!readMore(stderr_, deadline, buffer_)) {
      return "";
    }
  }
}

std::string GatehouseProcess::readRest(int timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (readMore(stderr_, deadline, buffer_)) {
  }
  std::string rest;
  rest.swap(buffer_);
  return rest;
}

uint16_t GatehouseProcess::waitForPort(const std::string& prefix) {
  std::string line = waitForLine(prefix);
  if (line.empty()) {
    return 0;
  }
  return static_cast<uint16_t>(std::stoi(line.substr(line.find(prefix) + prefix.size())));
}

void GatehouseProcess::signal(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
  }
}

int GatehouseProcess::wait(int timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  int status = 0;
  while (pid_ > 0) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    // Polling the child's state (no event to wait on): bounded by the deadline above.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string writeTempFile(const std::string& name, const std::string& text) {
  std::string path = "/tmp/gatehouse-test-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

} // namespace gatehouse::test
