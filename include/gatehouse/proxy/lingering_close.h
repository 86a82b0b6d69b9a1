#pragma once
// How a draining connection ends (a lingering close, as nginx and Apache do it): with its last
// response queued it shuts down its write side, so our FIN follows every byte; until then a
// client that stops reading is given idle_timeout per stall; once the FIN is out the client's
// bytes are read and dropped until its EOF or the linger time (kLingerMs), so unread request
// bytes never turn the FIN into a reset that destroys the response in flight. This keeps what
// those choices need between events and answers them; the connection closes and arms its
// timer (connection_deadlines.h reads the marks through fillClock).

#include <cstdint>

#include "gatehouse/proxy/connection_deadlines.h"

namespace gatehouse::proxy {

// Lives as long as the connection but means something only in Draining: begin() sets it anew.
class LingeringClose {
public:
  // Draining begins with `writeQueue` bytes still queued for the client.
  void begin(uint64_t writeQueue) {
    finSent_ = false;
    queueSeen_ = writeQueue;
  }
  // Our shutdown completed with `status`. True: every byte is with the kernel and our FIN is
  // out, and the connection lingers (its clock starts now). False: it closes at once, because
  // the client's EOF came already (`clientEof`) or the shutdown failed.
  bool lingerAfterShutdown(int status, bool clientEof);
  // The client's EOF came: true when the connection closes now (our FIN is out, or nothing is
  // left to write); else it waits for the shutdown to finish writing.
  bool closeOnClientEof(uint64_t writeQueue) const { return finSent_ || writeQueue == 0; }
  // The client read some of our response since the last look: the stall clock starts again.
  void progressed(uint64_t writeQueue) { queueSeen_ = writeQueue; }
  // The draining marks the deadlines read (shutdownDone, writeQueueSeen).
  void fillClock(ConnectionClock& clock) const;

private:
  uint64_t queueSeen_ = 0; // the write queue at the last look (progress)
  bool finSent_ = false;   // our FIN is out: the linger clock runs
};

} // namespace gatehouse::proxy
