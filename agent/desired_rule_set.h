// The rule set the service wants this node to enforce, as one stream builds
// it: a full RuleSet replaces it, a partial one (collector.proto, RuleSet)
// patches it: the accounts it lists replace those accounts whole (or are
// added), removed_account_ids leave, every other account and the exempt
// networks stay. The agent applies the result (the enforcer turns it into
// the kernel delta), so partial pushes cost in proportion to the change.
//
// Not thread-safe: the agent calls it under its apply mutex.
#ifndef EGRESS_AGENT_DESIRED_RULE_SET_H_
#define EGRESS_AGENT_DESIRED_RULE_SET_H_

#include "absl/status/status.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

class DesiredRuleSet {
 public:
  // Full: replaces whatever was there. Partial: FAILED_PRECONDITION (and no
  // change) unless a rule set is held and base_version equals its version
  // (the stream lost track: the caller drops it and gets a full rule set
  // with the next Welcome).
  absl::Status Merge(const v1::RuleSet& incoming);

  // The merged rule set: never partial; accounts ordered by uid.
  const v1::RuleSet& current() const { return current_; }
  bool empty() const { return !held_; }

 private:
  v1::RuleSet current_;
  bool held_ = false;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_DESIRED_RULE_SET_H_
