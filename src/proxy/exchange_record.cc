#include "gatehouse/proxy/exchange_record.h"

#include <chrono>
#include <fmt/format.h>

#include "gatehouse/log/log.h"
#include "gatehouse/proxy/telemetry.h"

namespace gatehouse::proxy {

using errors::Phase;
using errors::ProxyError;

char endCauseCode(EndCause cause) {
  switch (cause) {
  case EndCause::Normal:
    return '-';
  case EndCause::Refused:
    return 'P';
  case EndCause::ClientAbort:
    return 'C';
  case EndCause::ClientTimeout:
    return 'c';
  case EndCause::Upstream:
    return 'S';
  case EndCause::UpstreamTimeout:
    return 's';
  case EndCause::Resource:
    return 'R';
  case EndCause::Shutdown:
    return 'K';
  case EndCause::Internal:
    return 'I';
  }
  return '?';
}

char phaseCode(Phase phase) {
  switch (phase) {
  case Phase::ReadHead:
    return 'R';
  case Phase::Auth:
    return 'A';
  case Phase::Dns:
    return 'N';
  case Phase::Connect:
    return 'C';
  case Phase::Tls:
    return 'T';
  case Phase::Send:
    return 'B'; // request Body
  case Phase::WaitHead:
    return 'H';
  case Phase::ReadBody:
    return 'D';
  case Phase::Tunnel:
    return 'U';
  }
  return '?';
}

EndCause endCauseFor(ProxyError error) {
  switch (error) {
  case ProxyError::None:
    return EndCause::Normal;
  case ProxyError::DnsNotFound:
  case ProxyError::DnsFailed:
  case ProxyError::ConnectRefused:
  case ProxyError::DestinationUnreachable:
  case ProxyError::ConnectFailed:
  case ProxyError::UpstreamClosed:
  case ProxyError::UpstreamProtocolError:
  case ProxyError::UpstreamHeadTooLarge:
  case ProxyError::UpstreamBodyAborted:
  case ProxyError::TlsProtocolError:
  case ProxyError::TlsCertificateError:
    return EndCause::Upstream;
  case ProxyError::DnsTimeout:
  case ProxyError::ConnectTimeout:
  case ProxyError::UpstreamReadTimeout:
  case ProxyError::UpstreamResponseTimeout:
    return EndCause::UpstreamTimeout;
  case ProxyError::RequestTimeout:
    return EndCause::ClientTimeout;
  case ProxyError::ClientClosed:
    return EndCause::ClientAbort;
  case ProxyError::ConnectionLimit:
    return EndCause::Resource;
  case ProxyError::Internal:
  case ProxyError::kCount:
    return EndCause::Internal;
  default:
    return EndCause::Refused; // the proxy refused or answered the request itself
  }
}

void ExchangeRecord::fail(ProxyError newError, Phase newPhase, EndCause newCause,
                          std::string newDetail) {
  if (error != ProxyError::None) {
    return;
  }
  error = newError;
  phase = newPhase;
  cause = newCause;
  detail = std::move(newDetail);
}

std::string ExchangeRecord::terminationCode() const {
  if (cause == EndCause::Normal && error == ProxyError::None) {
    return "--";
  }
  return {endCauseCode(cause), phaseCode(phase)};
}

std::string ExchangeRecord::diagnosticLine(std::string_view client, uint64_t nowMs) const {
  const errors::ErrorInfo& info = errors::info(error);
  const uint64_t elapsed = nowMs - startMs;
  // A client that left needs no more words; one cut for not reading gets the full line (why).
  if (error == ProxyError::ClientClosed && cause != EndCause::ClientTimeout) {
    return fmt::format("{} client {} left during {} after {} ms (end={})", id, client,
                       errors::phaseName(phase), elapsed, terminationCode());
  }
  std::string_view shown = shownUser();
  return fmt::format("{} {} client={} user={} method={} target={} upstream={} phase={} error={} "
                     "detail={} elapsed_ms={} status={} end={}{}",
                     id, info.logName, client, shown.empty() ? "-" : log::quoted(shown),
                     method.empty() ? "-" : method, log::quoted(target),
                     upstreamAddress.empty() ? "-" : upstreamAddress, errors::phaseName(phase),
                     info.type, log::quoted(detail), elapsed, status, terminationCode(),
                     aborted ? " (response aborted)" : "");
}

void ExchangeRecord::finish(std::string_view client, uint64_t nowMs) {
  if (finished || id.empty()) {
    return;
  }
  finished = true;
  endMs = nowMs;
  WorkerTelemetry* telemetry = currentTelemetry();
  const uint64_t wallMs =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  if (error != ProxyError::None) {
    // Refusals and slow clients are the client's doing: one client looping bad requests must
    // not flood the log, so their lines are limited per client address (and summarised).
    const bool limited = cause == EndCause::Refused || cause == EndCause::ClientTimeout;
    if (!limited || telemetry == nullptr || telemetry->allowDiagnostic(client, nowMs)) {
      // Upstream trouble is a warning; client mistakes and departures are info.
      auto level = (status >= 500 || aborted) && error != ProxyError::ClientClosed
                       ? spdlog::level::warn
                       : spdlog::level::info;
      log::diag().log(level, "{}", diagnosticLine(client, nowMs));
    }
  }
  const errors::ErrorInfo& info = errors::info(error);
  log::AccessRecord record;
  record.requestId = id;
  record.client = client;
  record.user = shownUser();
  record.method = method.empty() ? std::string_view("-") : std::string_view(method);
  record.target = target;
  record.status = status;
  record.bytesIn = bytesIn;
  record.bytesOut = bytesOut;
  record.durationMs = nowMs - startMs;
  record.upstream = upstreamAddress;
  // The Proxy-Status type, or for errors RFC 9209 has no type for (407, 495, 496) the
  // table's log name, so that every failed line says what failed.
  record.proxyStatus = !info.type.empty() || error == ProxyError::None ? info.type : info.logName;
  if (error != ProxyError::None) {
    record.phase = errors::phaseName(phase);
    record.detail = detail;
  }
  const std::string code = terminationCode();
  record.termination = code;
  record.wallMs = wallMs;
  record.aborted = aborted;
  if (error == ProxyError::AuthRequired || error == ProxyError::AuthThrottled) {
    if (auth::Refusal refusal = refusalFromDetail(detail); refusal != auth::Refusal::None) {
      record.authReason = auth::describe(refusal);
    }
  }
  record.rule = rule;
  record.wouldDeny = wouldDeny;
  record.parent = parent;
  record.connectMs = connectedMs == 0 ? -1 : static_cast<int64_t>(connectedMs - startMs);
  record.firstByteMs = firstByteMs == 0 ? -1 : static_cast<int64_t>(firstByteMs - startMs);
  // Metrics and the live view first: whoever has read the access line finds the exchange there.
  if (telemetry != nullptr) {
    telemetry->onFinished(*this, client, wallMs);
  }
  log::access(record);
}

} // namespace gatehouse::proxy
