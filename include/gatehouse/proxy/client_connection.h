#pragma once
// One client connection: it sequences states (connection_state.h: the allowed edges are
// written there once), owns the client stream, its one timer and a tunnel, and ends in one
// recorded way. What happens to each request (policy, forward exchange, local answers) is the
// RequestCycle it derives from (request_cycle.h), which asks for every state change through
// its hooks. The object frees itself once its client stream and timer have both closed. What
// it decides lives in parts with their own tests: connection_deadlines.h (which deadline runs
// and what expiry means), lingering_close.h, RequestState (when per-request memory goes).

#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/proxy/connection_deadlines.h"
#include "gatehouse/proxy/connection_state.h"
#include "gatehouse/proxy/lingering_close.h"
#include "gatehouse/proxy/request_cycle.h"
#include "gatehouse/proxy/tunnel.h"
#include "gatehouse/uv/tcp.h"
#include "gatehouse/uv/timer.h"

namespace gatehouse::proxy {

struct WorkerContext;

class ClientConnection final : uv::StreamHandler, uv::TimerHandler, TunnelEvents, RequestCycle {
public:
  using State = ConnectionState;
  static const char* stateName(State state) { return connectionStateName(state); }

  // Takes ownership of an accepted stream and starts reading requests (over TLS for a client
  // of the HTTPS listener).
  static void start(WorkerContext& context, uv::TcpStream* stream, bool tls = false);
  // Closes at once (worker shutdown).
  void shutdown();
  // The worker drains (SIGTERM): an idle keep-alive connection closes now; one with a request
  // under way answers it with Connection: close and closes after it. Safe to call again.
  void drain();

private:
  template <class> friend class SlotTable; // keeps tableSlot_
  ClientConnection(WorkerContext& context, uv::TcpStream* stream);
  ~ClientConnection() override;

  void transition(State next);
  // After a SIGHUP: moves a connection that is between requests to the configuration now in
  // place (running requests and tunnels finish on the one they began with).
  void followReload();
  // The one timer follows connection_deadlines.h: clock() is what it looks at.
  ConnectionClock clock() const;
  void nextRequest();
  void drainPending();
  // Frees the per-request state a little later (from the timer) if the connection is idle
  // then; a busy keep-alive connection keeps reusing it.
  void scheduleRelease();
  void handleClosed();

  // RequestCycle hooks
  ConnectionState connectionState() const override { return machine_.state(); }
  void enterState(ConnectionState next) override { transition(next); }
  void updateClientReading() override;
  void armTimer() override;
  void readNextRequest() override { nextRequest(); }
  void resumeReading() override { drainPending(); }
  void beginDraining() override;
  void closeNow(bool reset, ConnectionEnd reason) override;
  void beginTunnel(uv::TcpStream* upstream, std::string_view toClient) override;

  // uv::StreamHandler (client stream)
  void onStreamRead(uv::TcpStream& stream, std::string_view data) override;
  void onStreamReadEnd(uv::TcpStream& stream, int status) override;
  void onStreamWriteError(uv::TcpStream& stream, int status) override;
  void onStreamDrained(uv::TcpStream& stream) override;
  void onStreamShutdown(uv::TcpStream& stream, int status) override;
  void onStreamClosed(uv::TcpStream& stream) override;
  void onStreamFilterFailed(uv::TcpStream& stream, uv::FilterStatus status,
                            const std::string& detail) override;
  // uv::TimerHandler
  void onTimer(uv::Timer& timer) override;
  void onTimerClosed(uv::Timer& timer) override;
  // TunnelEvents
  void onTunnelEnded(Tunnel& tunnel, const TunnelEnd& end) override;

  // The first field sits in the RequestCycle base's tail padding.
  uint32_t tableSlot_ = 0; // index in context_->connections
  int openHandles_ = 2;
  ConnectionStateMachine machine_;
  bool clientEof_ = false; // beside the machine's two bytes: no padding of its own
  uv::Timer* timer_;
  uint64_t lastClientActivity_ = 0;
  uint64_t stateSince_ = 0;
  LingeringClose lingering_; // Draining: our FIN's progress (lingering_close.h)
  std::unique_ptr<Tunnel> tunnel_;
};

} // namespace gatehouse::proxy
