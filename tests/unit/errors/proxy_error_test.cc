#include <catch2/catch.hpp>

#include "gatehouse/errors/proxy_error.h"

using namespace gatehouse::errors;

TEST_CASE("every proxy error has a row with a status, a type and a log name") {
  for (int i = 1; i < static_cast<int>(ProxyError::kCount); ++i) {
    const ErrorInfo& row = info(static_cast<ProxyError>(i));
    INFO("error " << i << " " << row.logName);
    CHECK(row.error == static_cast<ProxyError>(i));
    CHECK_FALSE(row.logName.empty());
    CHECK_FALSE(row.title.empty());
    if (row.status < 400 || row.status >= 500 || row.error == ProxyError::ConnectionLimit) {
      CHECK_FALSE(row.type.empty());
    }
  }
}

TEST_CASE("the upstream failure mapping matches the documented table") {
  struct Row {
    ProxyError error;
    int status;
    const char* type;
  };
  const Row rows[] = {
      {ProxyError::DnsNotFound, 502, "dns_error"},
      {ProxyError::DnsTimeout, 504, "dns_timeout"},
      {ProxyError::ConnectRefused, 502, "connection_refused"},
      {ProxyError::ConnectTimeout, 599, "connection_timeout"},
      {ProxyError::DestinationUnreachable, 502, "destination_unavailable"},
      {ProxyError::UpstreamClosed, 502, "connection_terminated"},
      {ProxyError::UpstreamProtocolError, 502, "http_protocol_error"},
      {ProxyError::UpstreamHeadTooLarge, 502, "http_response_header_section_size"},
      {ProxyError::UpstreamReadTimeout, 598, "connection_read_timeout"},
      {ProxyError::UpstreamResponseTimeout, 504, "http_response_timeout"},
      {ProxyError::TlsProtocolError, 502, "tls_protocol_error"},
      {ProxyError::TlsCertificateError, 502, "tls_certificate_error"},
      {ProxyError::ConnectPortDenied, 403, "http_request_denied"},
      {ProxyError::DestinationDenied, 403, "destination_ip_prohibited"},
      {ProxyError::LoopDetected, 508, "proxy_loop_detected"},
      {ProxyError::ConnectionLimit, 503, "connection_limit_reached"},
  };
  for (const Row& row : rows) {
    INFO(row.type);
    CHECK(clientStatus(row.error, StatusMode::Proxy) == row.status);
    CHECK(info(row.error).type == row.type);
  }
}

TEST_CASE("status mode rfc sends 598 and 599 as 504 and keeps the type") {
  CHECK(clientStatus(ProxyError::ConnectTimeout, StatusMode::Rfc) == 504);
  CHECK(clientStatus(ProxyError::UpstreamReadTimeout, StatusMode::Rfc) == 504);
  CHECK(clientStatus(ProxyError::ConnectRefused, StatusMode::Rfc) == 502);
  CHECK(info(ProxyError::ConnectTimeout).type == "connection_timeout");
}

TEST_CASE("phases have stable names") {
  CHECK(phaseName(Phase::Dns) == "dns");
  CHECK(phaseName(Phase::WaitHead) == "wait-head");
  CHECK(phaseName(Phase::ReadBody) == "read-body");
}
