// Who makes a change: recorded in the audit log, and what the lock policy
// (lock_policy.h) decides by.
#ifndef EGRESS_SERVICE_DOMAIN_ACTOR_H_
#define EGRESS_SERVICE_DOMAIN_ACTOR_H_

#include <string>

namespace egress {

// What kind of caller acts (from the token's scope).
enum class ActorRole {
  kCustomer,       // a panel token of the account
  kSupport,        // an admin token (support staff, ops)
  kAntivirus,      // the antivirus service
  kAbuseDetector,  // the service's own abuse detector
  kNode,           // a node's agent
};

struct Actor {
  // As written to the audit log: "account:<id>", "admin:<name>",
  // "antivirus:<name>", "node:<id>", "abuse-detector".
  std::string name;
  ActorRole role = ActorRole::kCustomer;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_DOMAIN_ACTOR_H_
