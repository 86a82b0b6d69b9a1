#pragma once
// A child process with a pipe to its stdin and one from its stdout (its stderr is the proxy's),
// for Squid-style helpers. Same ownership rule as TcpStream: heap-allocated, freed only after
// the process handle and both pipes have closed; the owner learns of that through
// onProcessClosed and must not touch the object afterwards.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::uv {

class Loop;
class ChildProcess;

// Receives one child's events on the loop thread.
class ProcessHandler {
public:
  virtual ~ProcessHandler() = default;
  // Bytes the child wrote to its stdout (any split; the owner reassembles lines).
  virtual void onProcessOutput(ChildProcess& child, std::string_view bytes) = 0;
  // The child exited (or was killed by `signal`), or its stdout closed / failed (exitStatus
  // -1): in every case the child is of no further use. Called at most once.
  virtual void onProcessEnded(ChildProcess& child, int64_t exitStatus, int signal) = 0;
  // Every handle closed: the object is freed right after this returns.
  virtual void onProcessClosed(ChildProcess& child) {}
};

class ChildProcess {
public:
  // Starts argv[0] (a path) with argv[1..]. On failure returns nullptr and sets `error` to
  // the libuv error name (ENOENT, EACCES...); nothing calls back then.
  static ChildProcess* spawn(Loop& loop, const std::vector<std::string>& argv,
                             ProcessHandler* handler, std::string& error);
  // Queues bytes to the child's stdin (the request owns a copy). False if it cannot be queued
  // (the child is gone or closing); a failed write later reports onProcessEnded.
  bool write(std::string_view bytes);
  int pid() const;
  // Kills the child (SIGKILL unless it already exited), closes the pipes, and frees the
  // object once the exit is reaped: a closed child is never left a zombie. Idempotent.
  void close();

protected:
  ChildProcess() = default;
  ~ChildProcess() = default;
};

} // namespace gatehouse::uv
