#pragma once
// Gets a connected upstream for a destination: an idle pooled connection, or DNS (c-ares, on
// the loop) and then a TCP connect to each returned address in turn until one answers.

#include <memory>
#include <string>
#include <vector>

#include "gatehouse/http/uri.h"
#include "gatehouse/proxy/upstream.h"
#include "gatehouse/uv/resolver.h"

namespace gatehouse::proxy {

struct WorkerContext;

// Receives the connector's single outcome.
class ConnectorEvents {
public:
  virtual ~ConnectorEvents() = default;
  // A connected upstream, now owned by the receiver (set its events, begin an exchange).
  virtual void onConnectorReady(UpstreamConnection* upstream) = 0;
  // DNS is done and a connect to `address` begins (may be called inside start()).
  virtual void onConnectorConnecting(const uv::SocketAddress& address) {}
  // Every address failed (or DNS did); `failure` is the last error seen.
  virtual void onConnectorFailed(const UpstreamFailure& failure) = 0;
};

class UpstreamConnector final : UpstreamEvents {
public:
  UpstreamConnector(WorkerContext& context, ConnectorEvents& events)
      : context_(context), events_(events) {}
  ~UpstreamConnector() override { cancel(); }

  // An idle pooled connection for `authority` (over TLS or not), or nullptr.
  UpstreamConnection* takePooled(const http::Authority& authority, bool tls);
  // Starts resolving and connecting; the outcome always arrives later, on the loop. With
  // `tls`, the connection speaks TLS to the origin (verified against `authority.host`).
  // `guarded`: the destination guard checks the addresses (off for a configured parent proxy,
  // which the operator chose).
  void start(const http::Authority& authority, bool tls = false, bool guarded = true);
  // Abandons a lookup or connect in progress; no event follows.
  void cancel();
  // DNS took too long (the owner's timer decides): fails with dns_timeout.
  void failDnsTimeout();

  bool resolving() const { return dnsRequest_ != nullptr; }

private:
  void onResolved(const uv::ResolveResult& result);
  void tryNext();
  void onUpstreamConnected(UpstreamConnection& upstream) override;
  void onUpstreamFailed(UpstreamConnection& upstream, const UpstreamFailure& failure) override;

  WorkerContext& context_;
  ConnectorEvents& events_;
  std::string key_;
  bool tls_ = false;
  bool guarded_ = true;
  std::string tlsHost_;
  uv::ResolveRequestPtr dnsRequest_;
  std::vector<uv::SocketAddress> addresses_;
  size_t next_ = 0;
  UpstreamConnection* attempt_ = nullptr;
  UpstreamFailure lastFailure_;
};

} // namespace gatehouse::proxy
