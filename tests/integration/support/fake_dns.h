#pragma once
// A tiny DNS server on 127.0.0.1 (UDP, port 0) so tests never query a real resolver: names in
// its table get A records ("127.0.0.2,127.0.0.1" gives two, in that order), anything else
// NXDOMAIN, and "silent" mode never answers.

#include <atomic>
#include <map>
#include <string>
#include <thread>

namespace gatehouse::test {

class FakeDns {
public:
  enum class Mode { Answer, Silent };
  explicit FakeDns(std::map<std::string, std::string> aRecords, Mode mode = Mode::Answer);
  ~FakeDns();
  uint16_t port() const { return port_; }
  // The value for the proxy's dns_servers setting.
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  size_t queries() const { return queries_.load(); }

private:
  void serve();

  std::map<std::string, std::string> records_;
  Mode mode_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> queries_{0};
  std::thread thread_;
};

} // namespace gatehouse::test
