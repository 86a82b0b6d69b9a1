#include "sockets.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace gatehouse::test {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

} // namespace

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    buffered_ = std::move(other.buffered_);
    other.fd_ = -1;
  }
  return *this;
}

Socket Socket::connectTo(uint16_t port, bool ipv6) {
  int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage storage{};
  socklen_t length;
  if (ipv6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&storage);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    a6->sin6_addr = in6addr_loopback;
    length = sizeof *a6;
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&storage);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *a4;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect: ") + std::strerror(err));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Socket(fd);
}

Socket Socket::startConnect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr); // EINPROGRESS expected
  return Socket(fd);
}

void Socket::sendAll(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Socket::readSome(std::chrono::milliseconds timeout) {
  if (!buffered_.empty()) {
    return takeBuffered();
  }
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (rc == 0) {
    throw std::runtime_error("read timed out");
  }
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n < 0) {
    throw std::runtime_error(errno == ECONNRESET ? "connection reset"
                                                 : std::string("recv: ") + std::strerror(errno));
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::string Socket::readUntil(std::string_view needle, std::chrono::milliseconds timeout) {
  std::string data = takeBuffered();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (data.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error("timed out waiting for " + std::string(needle));
    }
    std::string more = readSome(left);
    if (more.empty()) {
      throw std::runtime_error("EOF before " + std::string(needle) + "; got: " + data);
    }
    data += more;
  }
  size_t end = data.find(needle) + needle.size();
  buffered_ = data.substr(end);
  return data.substr(0, end);
}

std::string Socket::readExactly(size_t n, std::chrono::milliseconds timeout) {
  std::string data = takeBuffered();
  while (data.size() < n) {
    std::string more = readSome(timeout);
    if (more.empty()) {
      throw std::runtime_error("EOF after " + std::to_string(data.size()) + " of " +
                               std::to_string(n) + " bytes");
    }
    data += more;
  }
  buffered_ = data.substr(n);
  return data.substr(0, n);
}

std::string Socket::readToEnd(bool* reset, std::chrono::milliseconds timeout) {
  std::string data = takeBuffered();
  if (reset) {
    *reset = false;
  }
  while (true) {
    std::string more;
    try {
      more = readSome(timeout);
    } catch (const std::runtime_error& e) {
      if (reset && std::string(e.what()) == "connection reset") {
        *reset = true;
        return data;
      }
      throw;
    }
    if (more.empty()) {
      return data;
    }
    data += more;
  }
}

bool Socket::waitForClose(std::chrono::milliseconds timeout) {
  try {
    bool wasReset = false;
    readToEnd(&wasReset, timeout);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

void Socket::shutdownWrite() {
  ::shutdown(fd_, SHUT_WR);
}

void Socket::reset() {
  if (fd_ >= 0) {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }
}

void Socket::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::string Socket::takeBuffered() {
  std::string out;
  out.swap(buffered_);
  return out;
}

std::string Response::header(std::string_view name) const {
  std::string want = lower(name) + ":";
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t end = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, end - pos - 2);
    if (lower(line.substr(0, want.size())) == want) {
      std::string value = line.substr(want.size());
      while (!value.empty() && value.front() == ' ') {
        value.erase(0, 1);
      }
      return value;
    }
    pos = end;
  }
  return "";
}

size_t Response::headerCount(std::string_view name) const {
  std::string want = "\r\n" + lower(name) + ":";
  std::string lowered = lower(head);
  size_t count = 0;
  for (size_t pos = lowered.find(want); pos != std::string::npos;
       pos = lowered.find(want, pos + 1)) {
    ++count;
  }
  return count;
}

bool Response::hasHeader(std::string_view name) const {
  return headerCount(name) > 0;
}

Response readResponse(Socket& socket, bool requestWasHead) {
  Response r;
  r.head = socket.readUntil("\r\n\r\n");
  r.statusLine = r.head.substr(0, r.head.find("\r\n"));
  if (r.statusLine.size() < 12 || r.statusLine.compare(0, 5, "HTTP/") != 0) {
    throw std::runtime_error("bad status line: " + r.statusLine);
  }
  r.status = std::stoi(r.statusLine.substr(9, 3));
  if (requestWasHead || r.status < 200 || r.status == 204 || r.status == 304) {
    return r;
  }
  if (lower(r.header("transfer-encoding")) == "chunked") {
    r.chunked = true;
    while (true) {
      std::string sizeLine = socket.readUntil("\r\n");
      size_t size = std::stoul(sizeLine, nullptr, 16);
      if (size == 0) {
        while (true) {
          std::string line = socket.readUntil("\r\n");
          if (line == "\r\n") {
            break;
          }
          r.trailers += line;
        }
        return r;
      }
      r.body += socket.readExactly(size);
      socket.readExactly(2);
    }
  }
  std::string cl = r.header("content-length");
  if (!cl.empty()) {
    r.body = socket.readExactly(std::stoul(cl));
    return r;
  }
  r.closedAfter = true;
  r.body = socket.readToEnd();
  return r;
}

std::string pattern(size_t size, size_t offset) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>('a' + (offset + i) % 23);
  }
  return out;
}

} // namespace gatehouse::test
