#include "gatehouse/proxy/forwarder.h"

#include "gatehouse/http/header_rules.h"
#include "gatehouse/http/serializer.h"

namespace gatehouse::proxy {

namespace {

std::string viaValue(int major, int minor, std::string_view pseudonym) {
  return std::to_string(major) + "." + std::to_string(minor) + " " + std::string(pseudonym);
}

} // namespace

std::string buildUpstreamRequestHead(const UpstreamRequestPlan& plan) {
  const http::RequestHead& request = *plan.request;
  std::string out;
  out.reserve(512);
  out += request.method;
  out += ' ';
  if (plan.absoluteForm) {
    out += plan.uri->scheme + "://" + plan.uri->hostHeader() + plan.uri->originForm;
  } else {
    out += plan.uri->originForm;
  }
  out += " HTTP/1.1\r\nHost: ";
  out += plan.uri->hostHeader();
  out += http::kCrlf;

  const bool decrementMaxForwards = request.method == "OPTIONS" || request.method == "TRACE";
  auto maxForwards = http::maxForwards(request.headers);
  http::HeaderList kept = http::withoutHopByHop(request.headers, {.keepUpgrade = plan.webSocket});
  for (const http::Header& f : kept.fields()) {
    if (http::equalsIgnoreCase(f.name, "host")) {
      continue; // replaced by the target URI's authority
    }
    if (decrementMaxForwards && maxForwards && *maxForwards > 0 &&
        http::equalsIgnoreCase(f.name, "max-forwards")) {
      out += f.name + ": " + std::to_string(*maxForwards - 1) + "\r\n";
      continue;
    }
    out += f.name;
    out += ": ";
    out += f.value;
    out += http::kCrlf;
  }
  out += "Via: " + viaValue(request.versionMajor, request.versionMinor, plan.pseudonym) + "\r\n";
  if (!plan.proxyAuthorization.empty()) {
    out += "Proxy-Authorization: ";
    out += plan.proxyAuthorization;
    out += http::kCrlf;
  }
  if (plan.webSocket) {
    out += "Connection: upgrade\r\n";
  }
  switch (plan.framing) {
  case http::BodyFraming::Chunked:
    out += "Transfer-Encoding: chunked\r\n";
    break;
  case http::BodyFraming::ContentLength:
    out += "Content-Length: " + std::to_string(plan.contentLength) + "\r\n";
    break;
  default:
    // A body-less request that said "Content-Length: 0" keeps saying so (POST with no body).
    if (request.headers.has("content-length")) {
      out += "Content-Length: 0\r\n";
    }
    break;
  }
  out += http::kCrlf;
  return out;
}

ClientResponsePlan buildClientResponseHead(const ClientResponseInput& in) {
  const http::ResponseHead& response = *in.response;
  ClientResponsePlan plan;
  std::string& out = plan.head;
  out.reserve(512);
  http::appendStatusLine(out, response.status,
                         response.reason.empty() ? http::reasonPhrase(response.status)
                                                 : std::string_view(response.reason));
  http::appendFields(
      out, http::withoutHopByHop(response.headers, {.keepUpgrade = in.switchingProtocols}));
  out += "Via: " + viaValue(response.versionMajor, response.versionMinor, in.pseudonym) + "\r\n";
  if (in.switchingProtocols) {
    out += "Connection: upgrade\r\n\r\n";
    return plan;
  }
  const int status = response.status;
  const bool interim = status >= 100 && status < 200;
  if (interim) {
    out += http::kCrlf;
    return plan;
  }
  const bool noBodyByRule = in.requestWasHead || status == 204 || status == 304;
  plan.closeAfter = !in.clientKeepAlive;
  if (noBodyByRule) {
    // HEAD and 304 describe a representation: its Content-Length passes through unchanged.
    if (status != 204) {
      if (auto cl = response.headers.get("content-length")) {
        out += "Content-Length: " + std::string(http::trimOws(*cl)) + "\r\n";
      }
    }
  } else if (in.framing == http::BodyFraming::ContentLength) {
    out += "Content-Length: " + std::to_string(in.contentLength) + "\r\n";
  } else if (in.framing == http::BodyFraming::None) {
    out += "Content-Length: 0\r\n";
  } else if (in.clientVersionMinor >= 1) {
    out += "Transfer-Encoding: chunked\r\n";
    plan.chunked = true;
  } else {
    // An HTTP/1.0 client cannot read chunked: the end of the body is the end of the connection.
    plan.closeAfter = true;
  }
  if (plan.closeAfter) {
    out += "Connection: close\r\n";
  } else if (in.clientVersionMinor == 0) {
    out += "Connection: keep-alive\r\n";
  }
  out += http::kCrlf;
  return plan;
}

} // namespace gatehouse::proxy
