#pragma once
// Every way a proxied exchange can fail, and the single table that maps each to the client's
// status, the RFC 9209 Proxy-Status error type, and what the operator reads in the log.

#include <cstdint>
#include <string_view>

namespace gatehouse::errors {

// What went wrong. Values, not exceptions: they travel on the data path.
enum class ProxyError : uint8_t {
  None,
  DnsNotFound,               // the name does not resolve (NXDOMAIN, no address)
  DnsTimeout,                // DNS did not answer in time
  DnsFailed,                 // other resolver failure (SERVFAIL, refused...)
  ConnectRefused,            // TCP RST to our SYN
  ConnectTimeout,            // no TCP handshake within connect-timeout
  DestinationUnreachable,    // host or network unreachable
  ConnectFailed,             // any other connect error
  UpstreamClosed,            // closed or reset before a complete response head
  UpstreamProtocolError,     // invalid response head or framing
  UpstreamHeadTooLarge,      // response head over the limit
  UpstreamReadTimeout,       // no byte for read-timeout while waiting for (or reading) a response
  UpstreamResponseTimeout,   // head not complete within response-timeout of sending the request
  UpstreamBodyAborted,       // upstream died after the head went to the client
  ParentAuthRequired,        // a parent proxy answered 407 to our request
  TlsProtocolError,          // TLS to the upstream failed
  TlsCertificateError,       // upstream certificate not trusted
  ConnectPortDenied,         // CONNECT to a port outside connect-ports
  DestinationDenied,         // destination address refused by policy
  LoopDetected,              // our own Via pseudonym came back
  ConnectionLimit,           // at max-connections
  BadRequest,                // malformed request (parse or target errors)
  RequestHeadTooLarge,       // request head over the limit
  RequestTargetTooLong,      // request target over the limit
  UnsupportedTransferCoding, // a transfer coding other than chunked
  UnsupportedVersion,        // not HTTP/1.0 or 1.1
  RequestTimeout,            // the client was too slow sending its request
  NotAProxyRequest,          // origin-form target sent to the proxy itself
  UnsupportedScheme,         // https:// in absolute-form (TLS to origins: not yet)
  ExpectationFailed,         // an Expect other than 100-continue
  MethodNotAllowed,          // TRACE at Max-Forwards 0 when TRACE is disabled
  AuthRequired,              // missing or invalid proxy credentials (407)
  AuthThrottled,             // too many wrong passwords from this address (429)
  AuthBackendUnavailable,    // the auth helper or hash pool cannot answer now (503)
  ClientCertRequired,        // the TLS listener wants a client certificate and got none (496)
  ClientCertInvalid,         // the client certificate did not verify (495)
  PlainHttpOnTlsPort,        // plain HTTP sent to the TLS listener (497)
  ClientClosed,              // the client left before the response was complete (logged 499)
  Internal,                  // a bug or resource failure inside the proxy
  kCount
};

// Where in the exchange it happened (the log's phase field).
enum class Phase : uint8_t { ReadHead, Auth, Dns, Connect, Tls, Send, WaitHead, ReadBody, Tunnel };

// One row of the mapping table.
struct ErrorInfo {
  ProxyError error;
  int status;               // status sent to the client (0: nothing is sent)
  std::string_view type;    // RFC 9209 Proxy-Status error type
  std::string_view title;   // one-line human description
  std::string_view hint;    // one operator hint for the error page
  std::string_view logName; // short stable name for logs
};

const ErrorInfo& info(ProxyError error);
std::string_view phaseName(Phase phase);

// How 598/599 are sent: as is, or mapped to 504 for clients that refuse non-standard codes.
enum class StatusMode : uint8_t { Proxy, Rfc };
int clientStatus(ProxyError error, StatusMode mode);

} // namespace gatehouse::errors
