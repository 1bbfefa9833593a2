#include "agent/desired_rule_set.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace egress::agent {
namespace {

v1::AccountRules Account(const std::string& id, uint32_t uid, std::vector<uint64_t> rule_ids) {
  v1::AccountRules account;
  account.set_account_id(id);
  account.set_uid(uid);
  for (uint64_t rule_id : rule_ids) {
    v1::RuleMatch* rule = account.add_rules();
    rule->set_rule_id(rule_id);
    rule->set_network(absl::StrCat("192.0.2.", rule_id % 256, "/32"));
    rule->set_protocol(v1::PROTOCOL_TCP);
    rule->set_port(443);
  }
  return account;
}

// "id:uid[rules]" per account, in order.
std::string Describe(const v1::RuleSet& rules) {
  std::string s = absl::StrCat("v", rules.version());
  for (const v1::AccountRules& account : rules.accounts()) {
    absl::StrAppend(&s, " ", account.account_id(), ":", account.uid(), "[");
    for (const v1::RuleMatch& rule : account.rules()) absl::StrAppend(&s, rule.rule_id(), ",");
    absl::StrAppend(&s, "]");
  }
  return s;
}

v1::RuleSet Full() {
  v1::RuleSet full;
  full.set_version(10);
  full.add_exempt_networks("10.0.0.0/8");
  *full.add_accounts() = Account("a", 1001, {1, 2});
  *full.add_accounts() = Account("b", 1002, {3});
  *full.add_accounts() = Account("c", 1003, {});
  return full;
}

v1::RuleSet Partial(uint64_t base, uint64_t version) {
  v1::RuleSet partial;
  partial.set_partial(true);
  partial.set_base_version(base);
  partial.set_version(version);
  return partial;
}

TEST(DesiredRuleSetTest, AFullSetReplacesEverything) {
  DesiredRuleSet desired;
  EXPECT_TRUE(desired.empty());
  ASSERT_TRUE(desired.Merge(Full()).ok());
  EXPECT_FALSE(desired.empty());
  EXPECT_EQ(Describe(desired.current()), "v10 a:1001[1,2,] b:1002[3,] c:1003[]");
  v1::RuleSet other;
  other.set_version(11);
  *other.add_accounts() = Account("z", 5, {9});
  ASSERT_TRUE(desired.Merge(other).ok());
  EXPECT_EQ(Describe(desired.current()), "v11 z:5[9,]");
  EXPECT_EQ(desired.current().exempt_networks_size(), 0);
}

TEST(DesiredRuleSetTest, APartialSetReplacesRemovesAndAddsOnlyWhatItNames) {
  DesiredRuleSet desired;
  ASSERT_TRUE(desired.Merge(Full()).ok());
  v1::RuleSet delta = Partial(10, 12);
  *delta.add_accounts() = Account("b", 1002, {3, 4});
  *delta.add_accounts() = Account("d", 1000, {7});  // new, sorts first by uid
  delta.add_removed_account_ids("c");
  delta.add_removed_account_ids("never-held");
  ASSERT_TRUE(desired.Merge(delta).ok());
  EXPECT_EQ(Describe(desired.current()), "v12 d:1000[7,] a:1001[1,2,] b:1002[3,4,]");
  EXPECT_FALSE(desired.current().partial());
  EXPECT_EQ(desired.current().base_version(), 0u);
  EXPECT_EQ(desired.current().removed_account_ids_size(), 0);
  // Exempt networks stay with a partial set.
  ASSERT_EQ(desired.current().exempt_networks_size(), 1);
  EXPECT_EQ(desired.current().exempt_networks(0), "10.0.0.0/8");
}

TEST(DesiredRuleSetTest, AnAccountRemovedAndListedIsReplacedAndTheLastCopyWins) {
  DesiredRuleSet desired;
  ASSERT_TRUE(desired.Merge(Full()).ok());
  v1::RuleSet delta = Partial(10, 11);
  delta.add_removed_account_ids("a");
  *delta.add_accounts() = Account("a", 1001, {5});
  *delta.add_accounts() = Account("a", 1004, {6});  // moved to another uid
  ASSERT_TRUE(desired.Merge(delta).ok());
  EXPECT_EQ(Describe(desired.current()), "v11 b:1002[3,] c:1003[] a:1004[6,]");
}

TEST(DesiredRuleSetTest, APartialSetOnAnotherBaseChangesNothing) {
  DesiredRuleSet desired;
  v1::RuleSet delta = Partial(10, 11);
  *delta.add_accounts() = Account("a", 1001, {5});
  EXPECT_EQ(desired.Merge(delta).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(desired.empty());
  ASSERT_TRUE(desired.Merge(Full()).ok());
  delta.set_base_version(9);
  EXPECT_EQ(desired.Merge(delta).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Describe(desired.current()), "v10 a:1001[1,2,] b:1002[3,] c:1003[]");
}

}  // namespace
}  // namespace egress::agent
