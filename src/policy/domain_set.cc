#include "gatehouse/policy/domain_set.h"

#include "gatehouse/policy/host_name.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gatehouse::policy {

namespace {

constexpr off_t kMaxFileBytes = 256 * 1024 * 1024;

// Checks a DNS name (lower case, no trailing dot); "" when valid, else why not.
std::string nameProblem(std::string_view name) {
  if (name.empty()) {
    return "empty domain";
  }
  if (name.size() > 253) {
    return "domain longer than 253 characters";
  }
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) {
        return "empty label";
      }
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) {
      if (c == '*') {
        return "'*' is only allowed as a leading \"*.\"";
      }
      return "character not allowed in a domain";
    }
    if (++label > 63) {
      return "label longer than 63 characters";
    }
  }
  return label == 0 ? "empty label" : "";
}

std::string_view trimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

static uint64_t hashName(std::string_view name) {
  return std::hash<std::string_view>{}(name);
}

size_t DomainSet::probe(std::string_view name, uint64_t hash) const {
  size_t mask = slots_.size() - 1;
  auto tag = static_cast<uint16_t>(hash >> 48);
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.length == 0) {
      return i;
    }
    if (slot.tag == tag && slot.length == name.size() &&
        std::memcmp(arena_.data() + slot.offset, name.data(), name.size()) == 0) {
      return i;
    }
  }
}

uint8_t DomainSet::kindOf(std::string_view name) const {
  if (slots_.empty() || !lengths_.test(name.size())) {
    return 0;
  }
  const Slot& slot = slots_[probe(name, hashName(name))];
  return slot.length == 0 ? 0 : slot.kind;
}

void DomainSet::grow(size_t atLeast) {
  size_t size = slots_.empty() ? 64 : slots_.size() * 2;
  while (size < atLeast) {
    size *= 2;
  }
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(size, Slot{});
  for (const Slot& slot : old) {
    if (slot.length != 0) {
      std::string_view name(arena_.data() + slot.offset, slot.length);
      slots_[probe(name, hashName(name))] = slot;
    }
  }
}

bool DomainSet::add(std::string_view pattern, std::string& error) {
  if (pattern.size() > 300) {
    error = "pattern longer than 253 characters";
    return false;
  }
  char lowered[304];
  size_t n = 0;
  for (char c : pattern) {
    lowered[n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view name(lowered, n);
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  uint8_t kind = kExact;
  if (name.starts_with("*.")) {
    kind = kBelow;
    name.remove_prefix(2);
  } else if (name.starts_with(".")) {
    kind = kExact | kBelow;
    name.remove_prefix(1);
  }
  if (name == "*" || pattern == "*") {
    error = "\"*\" would match every host (leave hosts out of the rule instead)";
    return false;
  }
  // Requests name IPv4 hosts by their canonical dotted quad (normaliseHost), so a pattern
  // ending in a number is an address: store it the same way, or refuse it.
  std::string canonical;
  if (endsInNumber(name)) {
    auto address = parseLenientIpv4(name);
    if (kind != kExact || !address) {
      error = address ? "an IP address cannot have names below it" : "invalid IPv4 address";
      return false;
    }
    canonical = address->toString();
    name = canonical;
  }
  if (std::string problem = nameProblem(name); !problem.empty()) {
    error = problem;
    return false;
  }
  if ((used_ + 1) * 2 > slots_.size()) {
    grow();
  }
  uint64_t hash = hashName(name);
  Slot& slot = slots_[probe(name, hash)];
  if (slot.length == 0) {
    if (arena_.size() + name.size() > UINT32_MAX) {
      error = "too many names";
      return false;
    }
    slot.offset = static_cast<uint32_t>(arena_.size());
    slot.length = static_cast<uint8_t>(name.size());
    slot.tag = static_cast<uint16_t>(hash >> 48);
    arena_.append(name);
    lengths_.set(name.size());
    ++used_;
  }
  slot.kind |= kind;
  ++patterns_;
  return true;
}

bool DomainSet::matches(std::string_view host) const {
  if (used_ == 0 || host.empty() || host.size() > 253) {
    return false;
  }
  if (kindOf(host) & kExact) {
    return true;
  }
  // Each parent domain of the host, longest first: a.b.example.com -> b.example.com -> ...
  for (size_t dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
    if (kindOf(host.substr(dot + 1)) & kBelow) {
      return true;
    }
  }
  return false;
}

std::string DomainSet::matchingPattern(std::string_view host) const {
  if (host.size() > 253) {
    return "";
  }
  if (kindOf(host) & kExact) {
    return std::string(host);
  }
  for (size_t dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
    if (kindOf(host.substr(dot + 1)) & kBelow) {
      return "*." + std::string(host.substr(dot + 1));
    }
  }
  return "";
}

void DomainSet::loadText(std::string_view text, const std::string& name,
                         std::vector<std::string>& errors, size_t maxErrors) {
  size_t lineNumber = 0;
  size_t bad = 0;
  while (!text.empty()) {
    ++lineNumber;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = trimSpace(line);
    if (line.empty()) {
      continue;
    }
    std::string error;
    if (line.find_first_of(" \t") != std::string_view::npos) {
      error = "one domain per line";
    } else {
      add(line, error);
    }
    if (!error.empty()) {
      if (++bad <= maxErrors) {
        errors.push_back(name + ":" + std::to_string(lineNumber) + ": " + error);
      }
    }
  }
  if (bad > maxErrors) {
    errors.push_back(name + ": " + std::to_string(bad - maxErrors) + " more bad lines");
  }
}

bool DomainSet::loadFile(const std::string& path, std::vector<std::string>& errors,
                         size_t maxErrors) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    errors.push_back(path + ": cannot read the hosts file: " + std::strerror(errno));
    if (fd >= 0) {
      ::close(fd);
    }
    return false;
  }
  // A bounded read of a regular file: not a FIFO or device that never ends.
  if (!S_ISREG(st.st_mode) || st.st_size > kMaxFileBytes) {
    ::close(fd);
    errors.push_back(path + ": cannot read the hosts file: " +
                     (S_ISREG(st.st_mode) ? "larger than 256 MiB" : "not a regular file"));
    return false;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n <= 0) {
      break;
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  // Size the arena and the index once for the whole file instead of doubling as it loads:
  // names take at most the file's bytes, and there is at most one name a line.
  arena_.reserve(arena_.size() + text.size());
  size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  if ((used_ + lines) * 2 > slots_.size()) {
    grow((used_ + lines) * 2);
  }
  loadText(text, path, errors, maxErrors);
  return true;
}

} // namespace gatehouse::policy
