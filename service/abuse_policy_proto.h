// AbusePolicy (domain) <-> egress.v1.AbusePolicy, and the checks of the
// AbuseService requests that change policies and locks. Every refusal is
// INVALID_ARGUMENT naming the field; pure, unit-tested on its own.
#ifndef EGRESS_SERVICE_ABUSE_POLICY_PROTO_H_
#define EGRESS_SERVICE_ABUSE_POLICY_PROTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "egress/v1/abuse.pb.h"
#include "service/domain/abuse_policy.h"
#include "service/storage/abuse_lock_sql.h"

namespace egress {

// Ports an abuse lock by hand names at most.
inline constexpr int kMaxAbuseLockPorts = 64;

struct PolicyScopeRef {
  AbuseScope scope = AbuseScope::kDefault;
  // "" for the default scope; else the node or account id.
  std::string id;
};

// scope, node_id, account_id of a Get/SetAbusePolicy request.
absl::StatusOr<PolicyScopeRef> ScopeFromRequest(egress::v1::AbusePolicyScope scope,
                                                const std::string& node_id,
                                                const std::string& account_id);
// Converts and validates (abuse_policy::Validate), fields named "policy.*".
absl::StatusOr<AbusePolicyOverride> PolicyFromProto(const egress::v1::AbusePolicy& policy,
                                                    AbuseScope scope);
void PolicyToProto(const AbusePolicyOverride& policy, egress::v1::AbusePolicy* out);
void EffectivePolicyToProto(const AbusePolicy& policy, egress::v1::AbusePolicy* out);

// The lock of a SetAbuseLock request at `now`.
absl::StatusOr<AbuseLockWrite> AbuseLockFromRequest(const egress::v1::SetAbuseLockRequest& request,
                                                    absl::Time now);

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_POLICY_PROTO_H_
