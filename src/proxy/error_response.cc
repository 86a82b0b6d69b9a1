#include "gatehouse/proxy/error_response.h"

#include "gatehouse/http/serializer.h"

namespace gatehouse::proxy {

namespace {

bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A pseudonym goes in as an sf-token when it is one, else as an sf-string.
std::string sfItem(std::string_view pseudonym) {
  if (!pseudonym.empty() && isAlpha(pseudonym.front())) {
    return std::string(pseudonym);
  }
  return sfString(pseudonym);
}

// For element content and double-quoted attributes: the page shows the target and details that
// came from the client or upstream, so none of it may turn into markup.
std::string htmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

// A JSON string literal; control characters become \u escapes so a detail can never break
// the document a client parses.
std::string jsonString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

} // namespace

// RFC 8941 sf-strings hold printable ASCII only; anything else becomes '?' rather than making
// the whole Proxy-Status field unparseable for the client.
std::string sfString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c < 0x20 || c > 0x7e) {
      out.push_back('?');
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string proxyStatusValue(const ErrorResponse& r) {
  const errors::ErrorInfo& info = errors::info(r.error);
  std::string out = sfItem(r.pseudonym);
  if (!info.type.empty()) {
    out += "; error=";
    out += info.type;
  }
  if (!r.rcode.empty()) {
    out += "; rcode=" + sfString(r.rcode);
  }
  std::string details = r.detail.empty() ? std::string(info.title) : r.detail;
  out += "; details=" + sfString(details);
  if (!r.upstream.empty()) {
    out += "; next-hop=" + sfString(r.upstream);
  }
  return out;
}

std::string renderErrorResponse(const ErrorResponse& r) {
  const errors::ErrorInfo& info = errors::info(r.error);
  const int status = errors::clientStatus(r.error, r.statusMode);
  const std::string reason(http::reasonPhrase(status));
  const std::string detail = r.detail.empty() ? std::string(info.title) : r.detail;
  std::string body;
  std::string contentType;
  if (r.accept.find("application/json") != std::string::npos) {
    contentType = "application/json";
    body = "{\"status\":" + std::to_string(status) + ",\"error\":" + jsonString(info.type) +
           ",\"title\":" + jsonString(info.title) + ",\"detail\":" + jsonString(detail) +
           ",\"request_id\":" + jsonString(r.requestId) + ",\"target\":" + jsonString(r.target) +
           ",\"upstream\":" + jsonString(r.upstream) +
           ",\"elapsed_ms\":" + std::to_string(r.elapsedMs) + ",\"hint\":" + jsonString(info.hint) +
           "}\n";
  } else if (r.accept.find("text/html") != std::string::npos) {
    contentType = "text/html; charset=utf-8";
    body = "<!DOCTYPE html>\n<html><head><title>" + std::to_string(status) + " " + reason +
           "</title></head><body>\n<h1>" + std::to_string(status) + " " + reason + "</h1>\n<p>" +
           htmlEscape(info.title) + ".</p>\n<ul>\n<li>detail: " + htmlEscape(detail) +
           "</li>\n<li>request: " + htmlEscape(r.requestId) + "</li>\n";
    if (!r.target.empty()) {
      body += "<li>target: " + htmlEscape(r.target) + "</li>\n";
    }
    if (!r.upstream.empty()) {
      body += "<li>upstream: " + htmlEscape(r.upstream) + "</li>\n";
    }
    body += "<li>after: " + std::to_string(r.elapsedMs) +
            " ms</li>\n</ul>\n<p>Hint: " + htmlEscape(info.hint) + "</p>\n<hr><address>" +
            htmlEscape(r.pseudonym) + "</address>\n</body></html>\n";
  } else {
    contentType = "text/plain; charset=utf-8";
    body = std::to_string(status) + " " + reason + ": " + std::string(info.title) + ".\n" +
           "detail: " + detail + "\nrequest: " + r.requestId + "\n";
    if (!r.target.empty()) {
      body += "target: " + r.target + "\n";
    }
    if (!r.upstream.empty()) {
      body += "upstream: " + r.upstream + "\n";
    }
    body += "after: " + std::to_string(r.elapsedMs) + " ms\nhint: " + std::string(info.hint) + "\n";
  }
  http::HeaderList fields = r.extraFields;
  if (!info.type.empty()) {
    // RFC 9209: each intermediary appends its member; the parent's stay first.
    fields.add("Proxy-Status", (r.upstreamProxyStatus.empty() ? "" : r.upstreamProxyStatus + ", ") +
                                   proxyStatusValue(r));
  } else if (r.error == errors::ProxyError::AuthRequired) {
    // RFC 9209 has no error type for it, but a member without one still says which hop
    // answered. Never the refusal reason: the client must not learn whether the user exists.
    ErrorResponse plain;
    plain.error = r.error;
    plain.pseudonym = r.pseudonym;
    plain.detail = "proxy authentication required";
    fields.add("Proxy-Status", proxyStatusValue(plain));
  }
  fields.add("X-Request-Id", r.requestId);
  return renderLocalResponse(status, fields, body, contentType, r.close);
}

std::string renderLocalResponse(int status, const http::HeaderList& fields, std::string_view body,
                                std::string_view contentType, bool close) {
  std::string out;
  http::appendStatusLine(out, status, http::reasonPhrase(status));
  http::appendFields(out, fields);
  if (!contentType.empty()) {
    out += "Content-Type: ";
    out += contentType;
    out += "\r\n";
  }
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  if (close) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

} // namespace gatehouse::proxy
