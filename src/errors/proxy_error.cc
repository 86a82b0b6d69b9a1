#include "gatehouse/errors/proxy_error.h"

#include <array>

namespace gatehouse::errors {

namespace {

using E = ProxyError;

// The one mapping table. Order follows the enum; a unit test checks every row.
constexpr std::array<ErrorInfo, static_cast<size_t>(E::kCount)> kTable = {{
    {E::None, 200, "", "no error", "", "none"},
    {E::DnsNotFound, 502, "dns_error", "The upstream host name does not resolve",
     "Check the host name; the resolver answered that it has no address.", "dns_not_found"},
    {E::DnsTimeout, 504, "dns_timeout", "DNS did not answer in time",
     "Check the resolvers in /etc/resolv.conf and their reachability.", "dns_timeout"},
    {E::DnsFailed, 502, "dns_error", "DNS lookup failed",
     "Check the resolvers in /etc/resolv.conf.", "dns_failed"},
    {E::ConnectRefused, 502, "connection_refused", "The upstream refused the connection",
     "Nothing listens on that port of the upstream, or a firewall rejects it.", "connect_refused"},
    {E::ConnectTimeout, 599, "connection_timeout",
     "The upstream did not accept the connection in time",
     "The upstream or a firewall drops packets; raise connect-timeout only if it is just slow.",
     "connect_timeout"},
    {E::DestinationUnreachable, 502, "destination_unavailable",
     "The upstream host or network is unreachable",
     "Check routing from the proxy host to the upstream.", "unreachable"},
    {E::ConnectFailed, 502, "destination_unavailable", "Connecting to the upstream failed",
     "See the proxy's log line for the system error.", "connect_failed"},
    {E::UpstreamClosed, 502, "connection_terminated",
     "The upstream closed the connection before a complete response head",
     "The upstream crashed or rejected the request; check its logs.", "upstream_closed"},
    {E::UpstreamProtocolError, 502, "http_protocol_error",
     "The upstream sent an invalid HTTP response",
     "The upstream is not speaking valid HTTP/1.1 on that port.", "upstream_protocol_error"},
    {E::UpstreamHeadTooLarge, 502, "http_response_header_section_size",
     "The upstream's response head is too large", "The upstream sends an oversized response head.",
     "upstream_head_too_large"},
    {E::UpstreamReadTimeout, 598, "connection_read_timeout", "The upstream stopped sending",
     "The upstream is stuck; raise read-timeout only if it is legitimately slow.",
     "upstream_read_timeout"},
    {E::UpstreamResponseTimeout, 504, "http_response_timeout",
     "The upstream did not complete its response head in time",
     "The upstream is too slow; raise response-timeout only if that is expected.",
     "upstream_response_timeout"},
    {E::UpstreamBodyAborted, 0, "connection_terminated", "The upstream died while sending the body",
     "The response was cut short by the upstream.", "upstream_body_aborted"},
    {E::ParentAuthRequired, 502, "proxy_configuration_error",
     "A parent proxy refused this proxy's credentials",
     "Set the parent's credentials in its url or credentials_file.", "parent_auth_required"},
    {E::TlsProtocolError, 502, "tls_protocol_error", "TLS with the upstream failed",
     "The upstream's TLS setup is incompatible.", "tls_protocol_error"},
    {E::TlsCertificateError, 502, "tls_certificate_error",
     "The upstream's certificate is not trusted",
     "Check the certificate chain or configure upstream-ca.", "tls_certificate_error"},
    {E::ConnectPortDenied, 403, "http_request_denied", "CONNECT to this port is not allowed",
     "Allowed ports are set with connect-ports.", "connect_port_denied"},
    {E::DestinationDenied, 403, "destination_ip_prohibited", "This destination is not allowed",
     "The proxy's policy refuses this address.", "destination_denied"},
    {E::LoopDetected, 508, "proxy_loop_detected", "The request looped back to this proxy",
     "The proxy is configured to forward to itself.", "loop_detected"},
    {E::ConnectionLimit, 503, "connection_limit_reached", "The proxy is at its connection limit",
     "Raise max-connections or add capacity.", "connection_limit"},
    {E::BadRequest, 400, "http_request_error", "The request is malformed",
     "The client sent a request the proxy cannot read safely.", "bad_request"},
    {E::RequestHeadTooLarge, 431, "http_request_error", "The request head is too large",
     "Limits are set with max-head-size and max-header-fields.", "request_head_too_large"},
    {E::RequestTargetTooLong, 414, "http_request_error", "The request target is too long",
     "The limit is set with max-target-length.", "request_target_too_long"},
    {E::UnsupportedTransferCoding, 501, "http_request_error", "Unsupported transfer coding",
     "Only chunked is accepted.", "unsupported_transfer_coding"},
    {E::UnsupportedVersion, 505, "http_request_error", "HTTP version not supported",
     "Use HTTP/1.1.", "unsupported_version"},
    {E::RequestTimeout, 408, "http_request_error", "The request was not received in time",
     "The client sent its request too slowly.", "request_timeout"},
    {E::NotAProxyRequest, 400, "http_request_error", "This is a proxy, not a web server",
     "Configure this address as an HTTP proxy (curl -x http://host:port URL).",
     "not_a_proxy_request"},
    {E::UnsupportedScheme, 501, "http_request_error",
     "This scheme is not supported in absolute-form",
     "Use CONNECT for https:// (curl and browsers do so by default).", "unsupported_scheme"},
    {E::ExpectationFailed, 417, "http_request_error", "Unsupported expectation",
     "Only Expect: 100-continue is supported.", "expectation_failed"},
    {E::MethodNotAllowed, 405, "http_request_error", "TRACE is disabled",
     "Enable allow-trace to let the proxy answer TRACE itself.", "method_not_allowed"},
    // No Proxy-Status type: RFC 9209 has none for authentication, and a 407 is not an error
    // of the next hop.
    {E::AuthRequired, 407, "", "Proxy authentication required",
     "Send Proxy-Authorization: Basic with a user of this proxy.", "auth_required"},
    {E::AuthThrottled, 429, "http_request_denied", "Too many failed authentication attempts",
     "Wait for Retry-After seconds, then use the right password.", "auth_throttled"},
    {E::AuthBackendUnavailable, 503, "proxy_internal_error",
     "Authentication is temporarily unavailable",
     "The auth helper timed out, died or is overloaded; see the proxy's log.",
     "auth_backend_unavailable"},
    {E::ClientCertRequired, 496, "", "A client certificate is required",
     "Configure the client with a certificate signed by the proxy's client CA.",
     "client_cert_required"},
    {E::ClientCertInvalid, 495, "", "The client certificate is not valid",
     "Use a certificate signed by the proxy's client CA that has not expired.",
     "client_cert_invalid"},
    {E::PlainHttpOnTlsPort, 497, "", "Plain HTTP was sent to the proxy's TLS port",
     "Use https:// in the proxy URL for this port.", "plain_http_on_tls_port"},
    {E::ClientClosed, 499, "", "The client closed the connection", "", "client_closed"},
    {E::Internal, 500, "proxy_internal_error", "Internal proxy error", "See the proxy's log.",
     "internal"},
}};

constexpr bool tableIsOrdered() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<size_t>(kTable[i].error) != i) {
      return false;
    }
  }
  return true;
}
static_assert(tableIsOrdered(), "kTable rows must follow the ProxyError order");

} // namespace

const ErrorInfo& info(ProxyError error) {
  size_t i = static_cast<size_t>(error);
  return kTable[i < kTable.size() ? i : static_cast<size_t>(E::Internal)];
}

std::string_view phaseName(Phase phase) {
  switch (phase) {
  case Phase::ReadHead:
    return "read-head";
  case Phase::Auth:
    return "auth";
  case Phase::Dns:
    return "dns";
  case Phase::Connect:
    return "connect";
  case Phase::Tls:
    return "tls";
  case Phase::Send:
    return "send";
  case Phase::WaitHead:
    return "wait-head";
  case Phase::ReadBody:
    return "read-body";
  case Phase::Tunnel:
    return "tunnel";
  }
  return "unknown";
}

int clientStatus(ProxyError error, StatusMode mode) {
  int status = info(error).status;
  if (mode == StatusMode::Rfc && (status == 598 || status == 599)) {
    return 504;
  }
  return status;
}

} // namespace gatehouse::errors
