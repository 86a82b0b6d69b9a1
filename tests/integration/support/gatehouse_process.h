#pragma once
// The gatehouse binary (or a peer program) in a child process, as operators run it: its stderr read
// line by line, signals sent to it, its exit status collected. Killed (SIGKILL) if a test ends
// early.

#include <string>
#include <sys/types.h>
#include <vector>

namespace gatehouse::test {

class GatehouseProcess {
public:
  explicit GatehouseProcess(std::vector<std::string> args);
  // Another program (a real peer such as haproxy) run the same way.
  GatehouseProcess(const std::string& binary, std::vector<std::string> args);
  ~GatehouseProcess();
  GatehouseProcess(const GatehouseProcess&) = delete;
  GatehouseProcess& operator=(const GatehouseProcess&) = delete;
  // Reads stderr until a line containing `needle`; returns it ("" on timeout or EOF).
  std::string waitForLine(const std::string& needle, int timeoutMs = 10'000);
  // Everything still unread on stderr until EOF (the process exited) or `timeoutMs`.
  std::string readRest(int timeoutMs = 10'000);
  // The port of the first "listening on 127.0.0.1:PORT" line (0 if none came).
  uint16_t waitForPort(const std::string& prefix = "listening on 127.0.0.1:");
  void signal(int sig);
  // Waits for the exit (bounded: SIGKILL after `timeoutMs`); the exit code, -1 if killed.
  int wait(int timeoutMs = 60'000);
  bool running() const { return pid_ > 0; }

private:
  pid_t pid_ = -1;
  int stderr_ = -1;
  std::string buffer_;
};

// A file under /tmp unique to this test process, written with `text`; returns its path.
std::string writeTempFile(const std::string& name, const std::string& text);

} // namespace gatehouse::test
