#pragma once
// The egress rules as a member of the request-policy chain: normalises the destination host,
// asks the user's groups when a rule needs them (maybe later, from a group helper), decides
// at head time, and leaves the decision in the request's facts for the connect-time check.

#include <memory>

#include "gatehouse/policy/ip_address.h"
#include "gatehouse/policy/request_policy.h"

namespace gatehouse::auth {
class GroupResolver;
}

namespace gatehouse::policy {

class EgressPolicy;

std::unique_ptr<PolicyStep> makeEgressRulesStep(std::shared_ptr<const EgressPolicy> egress,
                                                auth::GroupResolver* groups);

// What the connect-time check says for one address about to be dialled: empty when it may
// go, else the error and the Proxy-Status details.
struct ConnectRefusal {
  errors::ProxyError error = errors::ProxyError::None;
  std::string detail;
  bool refused() const { return error != errors::ProxyError::None; }
};
ConnectRefusal checkConnect(const RequestFacts& facts, const IpAddress& address);

} // namespace gatehouse::policy
