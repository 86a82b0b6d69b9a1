#pragma once
// For src/uv only: the error a socket holds but libuv did not report.

#include <sys/socket.h>

namespace gatehouse::uv {

// The socket's pending error as a negative errno (consuming it), or `fallback` when it has
// none. libuv 1.44 reports some failures without it: POLLERR on a uv_poll_t as UV_EBADF, and an
// RST right after data as EOF (POLLHUP after a partial read in uv__stream_io).
inline int pendingSocketError(int fd, int fallback) {
  int error = 0;
  socklen_t len = sizeof error;
  if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error != 0) {
    return -error;
  }
  return fallback;
}

} // namespace gatehouse::uv
