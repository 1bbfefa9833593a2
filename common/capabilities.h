// Names of optional features an agent announces in Hello.capabilities, so
// the service speaks to every agent version in a way it understands.
#ifndef EGRESS_COMMON_CAPABILITIES_H_
#define EGRESS_COMMON_CAPABILITIES_H_

namespace egress {

// The agent applies partial RuleSets (RuleSet.partial, collector.proto).
inline constexpr char kRuleSetDeltasCapability[] = "rule-set-deltas";

}  // namespace egress

#endif  // EGRESS_COMMON_CAPABILITIES_H_
