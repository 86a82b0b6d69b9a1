#include "gatehouse/policy/forwarded_for.h"

namespace gatehouse::policy {

http::HeaderList withForwardedFor(const http::HeaderList& in, config::ForwardedFor mode,
                                  const IpAddress& client) {
  if (mode == config::ForwardedFor::Off) {
    return in;
  }
  http::HeaderList out;
  for (const http::Header& h : in.fields()) {
    if (http::equalsIgnoreCase(h.name, "x-forwarded-for") ||
        http::equalsIgnoreCase(h.name, "forwarded")) {
      continue;
    }
    out.add(h.name, h.value);
  }
  // A mapped address is the IPv4 client it stands for.
  IpAddress address = client.unmapped();
  if (mode == config::ForwardedFor::XForwardedFor) {
    out.add("X-Forwarded-For", address.toString());
  } else {
    out.add("Forwarded",
            address.isV4() ? "for=" + address.toString() : "for=\"[" + address.toString() + "]\"");
  }
  return out;
}

} // namespace gatehouse::policy
