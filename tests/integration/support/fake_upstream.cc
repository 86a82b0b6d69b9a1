#include "fake_upstream.h"

#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace gatehouse::test {

namespace {

int listenOnLoopback(int backlog, uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, backlog) != 0) {
    ::close(fd);
    throw std::runtime_error("fake upstream: cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

} // namespace

uint16_t unusedPort() {
  uint16_t port = 0;
  int fd = listenOnLoopback(1, port);
  ::close(fd);
  return port;
}

std::string UpstreamPeer::readHead() {
  std::string head = socket_.readUntil("\r\n\r\n");
  server_.record(head);
  return head;
}

std::string UpstreamPeer::readBody(const std::string& head) {
  std::string lowered = lower(head);
  size_t cl = lowered.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    size_t n = std::stoul(head.substr(cl + 17));
    return socket_.readExactly(n);
  }
  if (lowered.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    std::string raw;
    while (true) {
      std::string sizeLine = socket_.readUntil("\r\n");
      raw += sizeLine;
      size_t size = std::stoul(sizeLine, nullptr, 16);
      if (size == 0) {
        while (true) {
          std::string line = socket_.readUntil("\r\n");
          raw += line;
          if (line == "\r\n") {
            return raw;
          }
        }
      }
      raw += socket_.readExactly(size + 2);
    }
  }
  return "";
}

void UpstreamPeer::stall() {
  server_.waitForStop();
}

FakeUpstream::FakeUpstream(Script script, bool acceptConnections, int backlog)
    : script_(std::move(script)) {
  listenFd_ = listenOnLoopback(backlog, port_);
  if (acceptConnections) {
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
}

FakeUpstream::~FakeUpstream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    // Wake scripts blocked in reads: shut their sockets down.
    for (int fd : openFds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  changed_.notify_all();
  ::shutdown(listenFd_, SHUT_RDWR);
  if (acceptor_.joinable()) {
    acceptor_.join();
  }
  for (auto& t : handlers_) {
    t.join();
  }
  ::close(listenFd_);
}

void FakeUpstream::acceptLoop() {
  while (!stopping_) {
    pollfd p{listenFd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    openFds_.push_back(fd);
    ++connections_;
    handlers_.emplace_back([this, fd] {
      UpstreamPeer peer(*this, Socket(fd));
      try {
        script_(peer);
      } catch (const std::exception&) {
        // Scripts end by throwing when the proxy closes on them; that is not a test failure.
      }
      std::lock_guard<std::mutex> guard(mutex_);
      openFds_.erase(std::remove(openFds_.begin(), openFds_.end(), fd), openFds_.end());
    });
  }
}

void FakeUpstream::record(const std::string& head) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(head);
  }
  changed_.notify_all();
}

std::vector<std::string> FakeUpstream::requests() {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

bool FakeUpstream::waitForRequests(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void FakeUpstream::waitForStop() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return stopping_.load(); });
}

std::string FakeUpstream::okResponse(std::string_view body, std::string_view extraHeaders) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extraHeaders) + "\r\n" + std::string(body);
}

FakeUpstream::Script FakeUpstream::serve(std::string response) {
  return [response](UpstreamPeer& peer) {
    while (true) {
      std::string head = peer.readHead();
      peer.readBody(head);
      peer.send(response);
    }
  };
}

} // namespace gatehouse::test
