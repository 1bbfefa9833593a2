// A RuleMatch (one block rule of a RuleSet) in one line, for tests.
#ifndef EGRESS_TESTS_SUPPORT_RULE_MATCH_H_
#define EGRESS_TESTS_SUPPORT_RULE_MATCH_H_

#include <cstdint>
#include <string>

#include "egress/v1/collector.pb.h"

namespace egress::testing {

inline v1::RuleMatch Rule(const std::string& network, v1::Protocol protocol, uint32_t port) {
  v1::RuleMatch rule;
  rule.set_network(network);
  rule.set_protocol(protocol);
  rule.set_port(port);
  return rule;
}

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_RULE_MATCH_H_
