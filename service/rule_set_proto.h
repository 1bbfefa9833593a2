// NodeRuleSet (storage) → egress.v1.RuleSet (wire).
#ifndef EGRESS_SERVICE_RULE_SET_PROTO_H_
#define EGRESS_SERVICE_RULE_SET_PROTO_H_

#include "egress/v1/collector.pb.h"
#include "service/storage/collector_store.h"

namespace egress {

// A partial `rule_set` becomes a partial RuleSet on top of `base_version`
// (ignored for a full one).
void RuleSetToProto(const NodeRuleSet& rule_set, uint64_t base_version, egress::v1::RuleSet* out);

}  // namespace egress

#endif  // EGRESS_SERVICE_RULE_SET_PROTO_H_
