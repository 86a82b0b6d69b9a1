#pragma once
// forwarded_for: whether origins learn the client's address, and how. Off by default: an
// egress proxy should not tell the internet about internal addresses.

#include "gatehouse/config/config.h"
#include "gatehouse/http/message.h"
#include "gatehouse/policy/ip_address.h"

namespace gatehouse::policy {

// The request fields for the upstream with the client-address fields set per `mode`:
//  - Off: the list unchanged (whatever the client sent is the client's business).
//  - XForwardedFor / Forwarded: every incoming X-Forwarded-For and Forwarded line is dropped
//    (a client cannot plant an address, and origins never see two stories), then one line
//    of ours is added: "X-Forwarded-For: 10.1.2.3" or "Forwarded: for=10.1.2.3"
//    (for="[2001:db8::1]" for IPv6, RFC 7239 section 6).
// Call it on the list *after* hop-by-hop removal: a "Connection: X-Forwarded-For" from the
// client then only removes the client's own copy, never ours (Apache CVE-2022-31813).
// Returns a new list; nothing is erased while iterating.
http::HeaderList withForwardedFor(const http::HeaderList& in, config::ForwardedFor mode,
                                  const IpAddress& client);

} // namespace gatehouse::policy
