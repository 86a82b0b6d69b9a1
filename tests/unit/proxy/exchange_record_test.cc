#include <catch2/catch.hpp>

#include "gatehouse/proxy/exchange_record.h"

using namespace gatehouse::proxy;
using gatehouse::errors::Phase;
using gatehouse::errors::ProxyError;

TEST_CASE("exchange record: termination codes name who ended it and when", "[record]") {
  ExchangeRecord record;
  CHECK(record.terminationCode() == "--");
  record.fail(ProxyError::ConnectRefused, Phase::Connect, EndCause::Upstream, "ECONNREFUSED");
  CHECK(record.terminationCode() == "SC");
  // The first failure wins: a consequence never hides the cause.
  record.fail(ProxyError::ClientClosed, Phase::ReadBody, EndCause::ClientAbort, "left");
  CHECK(record.error == ProxyError::ConnectRefused);
  CHECK(record.detail == "ECONNREFUSED");
}

TEST_CASE("exchange record: every error has an end cause", "[record]") {
  CHECK(endCauseFor(ProxyError::AuthRequired) == EndCause::Refused);
  CHECK(endCauseFor(ProxyError::RequestTimeout) == EndCause::ClientTimeout);
  CHECK(endCauseFor(ProxyError::UpstreamReadTimeout) == EndCause::UpstreamTimeout);
  CHECK(endCauseFor(ProxyError::DnsNotFound) == EndCause::Upstream);
  CHECK(endCauseFor(ProxyError::ConnectionLimit) == EndCause::Resource);
  CHECK(endCauseFor(ProxyError::ClientClosed) == EndCause::ClientAbort);
  for (int e = 0; e < static_cast<int>(ProxyError::kCount); ++e) {
    CHECK(endCauseCode(endCauseFor(static_cast<ProxyError>(e))) != '?');
  }
}

TEST_CASE("exchange record: one user fallback for every line", "[record]") {
  ExchangeRecord record;
  record.id = "0.1.1";
  record.method = "GET";
  record.target = "http://a.test/";
  record.claimedUser = "mallory";
  record.status = 407;
  record.fail(ProxyError::AuthRequired, Phase::Auth, EndCause::Refused, "auth: wrong password");
  std::string line = record.diagnosticLine("127.0.0.1:5", 0);
  CHECK(line.find("user=\"mallory\"") != std::string::npos);
  CHECK(line.find("end=PA") != std::string::npos);
  record.user = "alice";
  CHECK(record.shownUser() == "alice");
}

TEST_CASE("exchange record: a client that left is one short line", "[record]") {
  ExchangeRecord record;
  record.id = "0.1.2";
  record.startMs = 10;
  record.fail(ProxyError::ClientClosed, Phase::WaitHead, EndCause::ClientAbort, "EOF");
  CHECK(record.diagnosticLine("127.0.0.1:5", 25) ==
        "0.1.2 client 127.0.0.1:5 left during wait-head after 15 ms (end=CH)");
}
