#include "service/rule_set_proto.h"

#include "common/protocol_proto.h"
#include "service/proto_time.h"

namespace egress {

void RuleSetToProto(const NodeRuleSet& rule_set, uint64_t base_version, egress::v1::RuleSet* out) {
  out->set_version(rule_set.version);
  if (rule_set.partial) {
    out->set_partial(true);
    out->set_base_version(base_version);
    for (const std::string& account_id : rule_set.removed_accounts) {
      out->add_removed_account_ids(account_id);
    }
  }
  for (const IpNetwork& network : rule_set.exempt_networks) {
    out->add_exempt_networks(network.ToString());
  }
  for (const AccountRuleSet& account : rule_set.accounts) {
    egress::v1::AccountRules* rules = out->add_accounts();
    rules->set_account_id(account.account_id);
    rules->set_uid(account.uid);
    rules->set_version(account.version);
    rules->set_block_all(account.block_all);
    if (account.egress_ipv4) rules->set_egress_ipv4(account.egress_ipv4->ToString());
    if (account.egress_ipv6) rules->set_egress_ipv6(account.egress_ipv6->ToString());
    for (const RuleMatchEntry& rule : account.rules) {
      egress::v1::RuleMatch* match = rules->add_rules();
      match->set_rule_id(rule.rule_id);
      match->set_network(rule.network.ToString());
      match->set_protocol(ProtocolToProto(rule.protocol));
      match->set_port(rule.port);
      if (rule.expires_at.has_value()) TimeToProto(*rule.expires_at, match->mutable_expire_time());
    }
  }
}

}  // namespace egress
