#pragma once
// Writing heads and chunked framing.

#include <string>
#include <string_view>

#include "gatehouse/http/message.h"

namespace gatehouse::http {

// Appends "Name: value\r\n" per field, bytes exactly as held.
void appendFields(std::string& out, const HeaderList& fields);
// "HTTP/1.1 <status> <reason>\r\n".
void appendStatusLine(std::string& out, int status, std::string_view reason);
// The line that opens a chunk of `size` bytes: "<hex>\r\n".
std::string chunkSizeLine(size_t size);
// The last chunk, the trailer fields and the final CRLF.
std::string lastChunk(const HeaderList& trailers);

inline constexpr std::string_view kCrlf = "\r\n";

} // namespace gatehouse::http
