#include "gatehouse/http/serializer.h"

#include <cstdio>

#include "gatehouse/http/header_rules.h"

namespace gatehouse::http {

void appendFields(std::string& out, const HeaderList& fields) {
  for (const Header& f : fields.fields()) {
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append(kCrlf);
  }
}

void appendStatusLine(std::string& out, int status, std::string_view reason) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason);
  out.append(kCrlf);
}

std::string chunkSizeLine(size_t size) {
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%zx\r\n", size);
  return std::string(buf, static_cast<size_t>(n));
}

std::string lastChunk(const HeaderList& trailers) {
  std::string out = "0\r\n";
  // Trailers pass through minus anything hop-by-hop or framing-related.
  appendFields(out, withoutHopByHop(trailers));
  out.append(kCrlf);
  return out;
}

} // namespace gatehouse::http
