#include "gatehouse/proxy/lingering_close.h"

namespace gatehouse::proxy {

bool LingeringClose::lingerAfterShutdown(int status, bool clientEof) {
  if (clientEof || status != 0) {
    return false;
  }
  finSent_ = true;
  return true;
}

void LingeringClose::fillClock(ConnectionClock& clock) const {
  clock.shutdownDone = finSent_;
  clock.writeQueueSeen = queueSeen_;
}

} // namespace gatehouse::proxy
