#include "gatehouse/http/message.h"

#include <string.h> // explicit_bzero

namespace gatehouse::http {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
} // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::string_view> HeaderList::get(std::string_view name) const {
  for (const auto& f : fields_) {
    if (equalsIgnoreCase(f.name, name)) {
      return std::string_view(f.value);
    }
  }
  return std::nullopt;
}

void HeaderList::wipe(std::string_view name) {
  for (auto& f : fields_) {
    if (equalsIgnoreCase(f.name, name)) {
      ::explicit_bzero(f.value.data(), f.value.capacity());
      f.value.clear();
    }
  }
}

size_t HeaderList::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& f : fields_) {
    n += equalsIgnoreCase(f.name, name) ? 1 : 0;
  }
  return n;
}

std::vector<std::string_view> HeaderList::tokens(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (!equalsIgnoreCase(f.name, name)) {
      continue;
    }
    std::string_view rest = f.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = trimOws(rest.substr(0, comma));
      if (!item.empty()) {
        out.push_back(item);
      }
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool HeaderList::hasToken(std::string_view name, std::string_view token) const {
  for (std::string_view t : tokens(name)) {
    if (equalsIgnoreCase(t, token)) {
      return true;
    }
  }
  return false;
}

std::string RequestHead::version() const {
  return "HTTP/" + std::to_string(versionMajor) + "." + std::to_string(versionMinor);
}

std::string_view reasonPhrase(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 103:
    return "Early Hints";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 417:
    return "Expectation Failed";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 495:
    return "SSL Certificate Error";
  case 496:
    return "SSL Certificate Required";
  case 497:
    return "HTTP Request Sent to HTTPS Port";
  case 499:
    return "Client Closed Request";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  case 508:
    return "Loop Detected";
  case 598:
    return "Network Read Timeout Error";
  case 599:
    return "Network Connect Timeout Error";
  default:
    return "Unknown";
  }
}

} // namespace gatehouse::http
