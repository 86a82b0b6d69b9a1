#include "fake_dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace gatehouse::test {

FakeDns::FakeDns(std::map<std::string, std::string> aRecords, Mode mode)
    : records_(std::move(aRecords)), mode_(mode) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("fake dns: cannot bind");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeDns::~FakeDns() {
  stopping_ = true;
  thread_.join();
  ::close(fd_);
}

void FakeDns::serve() {
  unsigned char query[512];
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    sockaddr_in from{};
    socklen_t fromLen = sizeof from;
    ssize_t n =
        ::recvfrom(fd_, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
    if (n < 12) {
      continue;
    }
    ++queries_;
    if (mode_ == Mode::Silent) {
      continue;
    }
    // Question: labels from offset 12, then type and class.
    size_t pos = 12;
    std::string name;
    while (pos < static_cast<size_t>(n) && query[pos] != 0) {
      size_t len = query[pos];
      if (!name.empty()) {
        name += ".";
      }
      name.append(reinterpret_cast<char*>(query) + pos + 1, len);
      pos += len + 1;
    }
    size_t questionEnd = pos + 5;
    if (questionEnd > static_cast<size_t>(n)) {
      continue;
    }
    uint16_t qtype = static_cast<uint16_t>(query[pos + 1] << 8 | query[pos + 2]);
    std::string reply(reinterpret_cast<char*>(query), questionEnd);
    reply[2] = static_cast<char>(0x81 | (query[2] & 0x01)); // QR, RD copied
    reply[3] = static_cast<char>(0x80);                     // RA, rcode 0
    reply[6] = reply[7] = reply[8] = reply[9] = reply[10] = reply[11] = 0;
    auto it = records_.find(name);
    if (it == records_.end()) {
      reply[3] = static_cast<char>(0x83); // NXDOMAIN
    } else if (qtype == 1) {
      // One A record per comma-separated address, in the order given.
      std::string list = it->second;
      unsigned char count = 0;
      while (!list.empty()) {
        size_t comma = list.find(',');
        std::string address = list.substr(0, comma);
        list = comma == std::string::npos ? "" : list.substr(comma + 1);
        in_addr ip{};
        inet_pton(AF_INET, address.c_str(), &ip);
        const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4};
        reply.append(reinterpret_cast<const char*>(answer), sizeof answer);
        reply.append(reinterpret_cast<const char*>(&ip), 4);
        ++count;
      }
      reply[7] = static_cast<char>(count);
    } // other types: NOERROR, no answer (NODATA)
    ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), fromLen);
  }
}

} // namespace gatehouse::test
