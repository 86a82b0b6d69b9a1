#pragma once
// Blocking loopback sockets for tests, every read bounded by a timeout so no test can hang.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::test {

using namespace std::chrono_literals;
inline constexpr std::chrono::milliseconds kIoTimeout = 10s;

// An owned socket file descriptor.
class Socket {
public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { close(); }
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Connects to 127.0.0.1:port (or [::1]:port); throws on failure.
  static Socket connectTo(uint16_t port, bool ipv6 = false);
  // Starts a connect to 127.0.0.1:port without waiting for it (to fill a listen backlog).
  static Socket startConnect(uint16_t port);
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  void sendAll(std::string_view data);
  // Reads what is available (waiting up to `timeout` for the first byte). Empty: EOF.
  // Throws on timeout or error ("reset" in the message for ECONNRESET).
  std::string readSome(std::chrono::milliseconds timeout = kIoTimeout);
  // Reads until `needle` appears; returns everything read. Throws on EOF/timeout.
  std::string readUntil(std::string_view needle, std::chrono::milliseconds timeout = kIoTimeout);
  std::string readExactly(size_t n, std::chrono::milliseconds timeout = kIoTimeout);
  // Reads until EOF; returns the bytes. `reset` tells whether it ended by RST.
  std::string readToEnd(bool* reset = nullptr, std::chrono::milliseconds timeout = kIoTimeout);
  // True when the peer closed (EOF or RST) within `timeout` with no more data.
  bool waitForClose(std::chrono::milliseconds timeout = kIoTimeout);
  void shutdownWrite();
  // Closes with SO_LINGER 0: the peer sees RST.
  void reset();
  void close();

  // Bytes buffered from readUntil that went past the needle.
  std::string takeBuffered();

private:
  int fd_ = -1;
  std::string buffered_;
};

// `size` checkable bytes starting at stream position `offset`: a period that is no power of
// two, so a lost, repeated or reordered block (a pipe's worth, say) shows.
std::string pattern(size_t size, size_t offset = 0);

// A parsed HTTP response as a test sees it.
struct Response {
  int status = 0;
  std::string statusLine;
  std::string head; // raw head including the blank line
  std::string body;
  bool chunked = false;
  bool closedAfter = false; // body delimited by connection close
  std::string trailers;

  // First value of a header (case-insensitive), or empty.
  std::string header(std::string_view name) const;
  bool hasHeader(std::string_view name) const;
  size_t headerCount(std::string_view name) const;
};

// Reads one response from `socket` (HEAD and 1xx/204/304 have no body).
Response readResponse(Socket& socket, bool requestWasHead = false);

} // namespace gatehouse::test
