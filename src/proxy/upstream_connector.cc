#include "gatehouse/proxy/upstream_connector.h"

#include "gatehouse/log/log.h"
#include "gatehouse/proxy/context.h"
#include "gatehouse/uv/resolver.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;

namespace {
// Pool key: TLS and plain connections to the same host and port are not interchangeable.
std::string poolKeyFor(const http::Authority& authority, bool tls) {
  return (tls ? "https://" : "") + authority.hostPort();
}
} // namespace

UpstreamConnection* UpstreamConnector::takePooled(const http::Authority& authority, bool tls) {
  return context_.pool.take(poolKeyFor(authority, tls));
}

void UpstreamConnector::start(const http::Authority& authority, bool tls, bool guarded) {
  cancel();
  guarded_ = guarded;
  key_ = poolKeyFor(authority, tls);
  tls_ = tls;
  tlsHost_ = authority.host;
  addresses_.clear();
  next_ = 0;
  auto now = context_.resolver.answerNow(authority.host, authority.port);
  if (now && now->status == uv::ResolveResult::Status::Ok && !now->addresses.empty()) {
    addresses_ = now->addresses;
    tryNext(); // connect results arrive later, never inside this call
    return;
  }
  dnsRequest_ = context_.resolver.resolve(authority.host, authority.port,
                                          [this](const uv::ResolveResult& r) { onResolved(r); });
}

void UpstreamConnector::cancel() {
  dnsRequest_.reset();
  if (attempt_ != nullptr) {
    attempt_->close();
    attempt_ = nullptr;
  }
}

void UpstreamConnector::failDnsTimeout() {
  dnsRequest_.reset();
  events_.onConnectorFailed({ProxyError::DnsTimeout, Phase::Dns, "no DNS answer in time"});
}

void UpstreamConnector::onResolved(const uv::ResolveResult& result) {
  dnsRequest_.reset();
  using Status = uv::ResolveResult::Status;
  switch (result.status) {
  case Status::Ok:
    addresses_ = result.addresses;
    tryNext();
    return;
  case Status::NotFound:
    events_.onConnectorFailed({ProxyError::DnsNotFound, Phase::Dns, result.errorName});
    return;
  case Status::Timeout:
    events_.onConnectorFailed({ProxyError::DnsTimeout, Phase::Dns, result.errorName});
    return;
  case Status::Failed:
    events_.onConnectorFailed({ProxyError::DnsFailed, Phase::Dns, result.errorName});
    return;
  }
}

void UpstreamConnector::tryNext() {
  // The guard sees the address actually connected to, after DNS: a name that resolves to a
  // refused address (DNS rebinding included) never gets a packet.
  while (next_ < addresses_.size() && guarded_ && context_.destinationGuard) {
    std::string refusal = context_.destinationGuard(addresses_[next_]);
    if (refusal.empty()) {
      break;
    }
    lastFailure_ = {ProxyError::DestinationDenied, Phase::Connect,
                    addresses_[next_].toString() + " is " + refusal};
    ++next_;
  }
  if (next_ >= addresses_.size()) {
    events_.onConnectorFailed(lastFailure_);
    return;
  }
  const uv::SocketAddress& address = addresses_[next_++];
  events_.onConnectorConnecting(address);
  attempt_ = UpstreamConnection::connect(context_, address, key_, this,
                                         tls_ ? context_.upstreamTls : nullptr, tlsHost_);
}

void UpstreamConnector::onUpstreamConnected(UpstreamConnection& upstream) {
  attempt_ = nullptr;
  upstream.setEvents(nullptr);
  events_.onConnectorReady(&upstream);
}

void UpstreamConnector::onUpstreamFailed(UpstreamConnection& upstream,
                                         const UpstreamFailure& failure) {
  attempt_ = nullptr; // the connection closes itself after reporting
  lastFailure_ = failure;
  lastFailure_.detail += " (" + upstream.addressText() + ")";
  log::diag().debug("connect to {} failed: {}", upstream.addressText(), failure.detail);
  tryNext();
}

} // namespace gatehouse::proxy
