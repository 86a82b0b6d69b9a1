#pragma once
// A scriptable upstream server on 127.0.0.1, port 0. Each accepted connection runs the script
// on its own thread, so a script can block, stall, trickle, reset or send garbage.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sockets.h"

namespace gatehouse::test {

class FakeUpstream;

// One accepted connection as a script sees it.
class UpstreamPeer {
public:
  UpstreamPeer(FakeUpstream& server, Socket socket) : server_(server), socket_(std::move(socket)) {}
  Socket& socket() { return socket_; }
  // Reads one request head (recorded in the server's request list).
  std::string readHead();
  // Reads a Content-Length body or a chunked one (raw, framing included) after readHead().
  std::string readBody(const std::string& head);
  void send(std::string_view data) { socket_.sendAll(data); }
  // Blocks until the test is over (the server is destroyed): a silent upstream.
  void stall();

private:
  FakeUpstream& server_;
  Socket socket_;
};

class FakeUpstream {
public:
  using Script = std::function<void(UpstreamPeer&)>;

  // Starts listening; `backlog` 0 with acceptConnections=false makes a blackhole listener.
  explicit FakeUpstream(Script script, bool acceptConnections = true, int backlog = 64);
  ~FakeUpstream();

  uint16_t port() const { return port_; }
  std::string hostPort() const { return "127.0.0.1:" + std::to_string(port_); }
  // Requests heads seen so far, in order.
  std::vector<std::string> requests();
  size_t connectionCount() const { return connections_.load(); }
  // Waits until `n` requests were seen.
  bool waitForRequests(size_t n, std::chrono::milliseconds timeout = kIoTimeout);
  void record(const std::string& head);
  // Waits until the test ends; returns immediately once stopping.
  void waitForStop();

  // A reply with a fixed body: "HTTP/1.1 200 OK", Content-Length, body.
  static std::string okResponse(std::string_view body, std::string_view extraHeaders = "");
  // Reads one request and answers `response`, for each request on the connection until EOF.
  static Script serve(std::string response);

private:
  void acceptLoop();

  Script script_;
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> requests_;
  std::thread acceptor_;
  std::vector<std::thread> handlers_;
  std::vector<int> openFds_;
};

// A port on 127.0.0.1 with nothing listening (bound, then closed).
uint16_t unusedPort();

} // namespace gatehouse::test
