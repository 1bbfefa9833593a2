// Makes the kernel enforce a RuleSet.
//
// Contract: Apply() replaces whatever the enforcer applied before with
// `rules`, atomically: on success the new rules hold; on any error (bad rule
// set: InvalidArgument naming the field; the kernel or nft refusing it:
// Internal with nft's error text) nothing changed and the previous rules
// still hold. Remove() takes everything the enforcer installed away.
// Implementations are thread-safe.
#ifndef EGRESS_AGENT_RULE_ENFORCER_H_
#define EGRESS_AGENT_RULE_ENFORCER_H_

#include "absl/status/status.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

class RuleEnforcer {
 public:
  virtual ~RuleEnforcer() = default;
  virtual absl::Status Apply(const v1::RuleSet& rules) = 0;
  virtual absl::Status Remove() = 0;
  // Whether the kernel already holds a table of this enforcer's making (say
  // an earlier agent's, whose state directory was wiped since).
  virtual bool TableInstalled() { return false; }
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_RULE_ENFORCER_H_
