#include "agent/nft_script.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::egress::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

v1::RuleMatch Rule(const char* network, v1::Protocol protocol, uint32_t port) {
  v1::RuleMatch r;
  r.set_network(network);
  r.set_protocol(protocol);
  r.set_port(port);
  return r;
}

TEST(NftScriptTest, EmptyRuleSetKeepsAConntrackExpression) {
  v1::RuleSet rules;
  rules.set_version(1);
  ASSERT_OK_AND_ASSIGN(std::string script, RenderRuleSet(rules, NftOptions{}));
  EXPECT_THAT(script, HasSubstr("ct state new ct mark set meta skuid map @uid2mark"));
  EXPECT_THAT(script, Not(HasSubstr("elements")));
}

TEST(NftScriptTest, InPlaceRefillsWithoutDeletingTheTable) {
  v1::RuleSet rules;
  rules.add_accounts()->set_uid(1000);
  ASSERT_OK_AND_ASSIGN(std::string script, RenderRuleSet(rules, NftOptions{}));
  EXPECT_THAT(script, Not(HasSubstr("delete table")));
  EXPECT_THAT(script, HasSubstr("flush table inet egress\n"));
  EXPECT_THAT(script, HasSubstr("flush map inet egress uid2mark\n"));
  EXPECT_THAT(script, HasSubstr("flush set inet egress rej6_addr\n"));
  EXPECT_THAT(script, HasSubstr("flush set inet egress rej6_addr_host\n"));
  // The declarations come before the flush, the contents after it.
  EXPECT_LT(script.find("type filter hook output"), script.find("flush table"));
  EXPECT_GT(script.find("1000 : 0x800003e8"), script.find("flush table"));

  ASSERT_OK_AND_ASSIGN(std::string recreate,
                       RenderRuleSet(rules, NftOptions{}, NftApplyMode::kRecreate));
  EXPECT_THAT(recreate, HasSubstr("add table inet egress\ndelete table inet egress\n"));
  EXPECT_THAT(recreate, Not(HasSubstr("flush")));
}

TEST(NftScriptTest, RendersEveryKindOfRule) {
  v1::RuleSet rules;
  rules.add_exempt_networks("10.50.0.0/16");
  rules.add_exempt_networks("fd50::/64");
  v1::AccountRules* a = rules.add_accounts();
  a->set_uid(1000);
  *a->add_rules() = Rule("192.0.2.7/32", v1::PROTOCOL_TCP, 443);
  *a->add_rules() = Rule("198.51.100.0/24", v1::PROTOCOL_UDP, 0);
  *a->add_rules() = Rule("203.0.113.0/24", v1::PROTOCOL_ANY, 25);
  *a->add_rules() = Rule("2001:db8::/32", v1::PROTOCOL_ANY, 0);
  *a->add_rules() = Rule("192.0.2.9/32", v1::PROTOCOL_ICMP, 0);
  a->set_egress_ipv4("192.0.2.100");
  a->set_egress_ipv6("2001:db8:1::100");
  v1::AccountRules* b = rules.add_accounts();
  b->set_uid(1001);
  b->set_block_all(true);
  ASSERT_OK_AND_ASSIGN(std::string script, RenderRuleSet(rules, NftOptions{"egress", 9}));
  EXPECT_THAT(script, HasSubstr("1000 : 0x800003e8"));
  EXPECT_THAT(script, HasSubstr("1001 : 0x800003e9"));
  // Single addresses go to the hash sets, networks to the interval sets.
  EXPECT_THAT(script, HasSubstr("set rej4_port_host {\n    type uid . ipv4_addr . inet_proto . "
                                "inet_service;\n    flags timeout;\n"
                                "    elements = { 1000 . 192.0.2.7 . tcp . 443 }"));
  EXPECT_THAT(script, HasSubstr("@rej4_port_host jump reject_and_log"));
  EXPECT_THAT(script, HasSubstr("1000 . 198.51.100.0/24 . udp"));
  EXPECT_THAT(script, HasSubstr("1000 . 203.0.113.0/24 . tcp . 25"));
  EXPECT_THAT(script, HasSubstr("1000 . 203.0.113.0/24 . udp . 25"));
  EXPECT_THAT(script, HasSubstr("1000 . 2001:db8::/32 }"));
  EXPECT_THAT(script, HasSubstr("set rej4_proto_host {\n    type uid . ipv4_addr . inet_proto;\n"
                                "    flags timeout;\n    elements = { 1000 . 192.0.2.9 . icmp }"));
  EXPECT_THAT(script, HasSubstr("set block_all {\n    type uid;\n    elements = { 1001 }"));
  EXPECT_THAT(script, HasSubstr("1000 : 192.0.2.100"));
  EXPECT_THAT(script, HasSubstr("1000 : 2001:db8:1::100"));
  EXPECT_THAT(script, HasSubstr("10.50.0.0/16"));
  // REJECTs counted by the kernel's sets (the default), never also logged.
  EXPECT_THAT(script, HasSubstr("ct state new meta nfproto vmap @rc_jump"));
  EXPECT_THAT(script, HasSubstr("add @rc4p_a { meta skuid . ip daddr . meta l4proto . th dport }"));
  EXPECT_THAT(script, HasSubstr("meta l4proto != { tcp, udp } add @rc6n_b { meta skuid . ip6 daddr "
                                ". meta l4proto }"));
  EXPECT_THAT(script, Not(HasSubstr("log group")));
  // No apply ever flushes a counting set or the generation maps.
  EXPECT_THAT(script, Not(HasSubstr("flush set inet egress rc")));
  EXPECT_THAT(script, Not(HasSubstr("flush map inet egress rc")));
  NftOptions nflog{"egress", 9};
  nflog.count_rejects_in_kernel = false;
  ASSERT_OK_AND_ASSIGN(std::string logged, RenderRuleSet(rules, nflog));
  EXPECT_THAT(logged, HasSubstr("ct state new log group 9"));
  EXPECT_THAT(logged, Not(HasSubstr("vmap @rc_jump")));
  // Accepted connections: counted by conntrack unless asked (the accept
  // sets are declared either way; only the entry rules differ).
  EXPECT_THAT(script, HasSubstr("set ac4p_a {"));
  EXPECT_THAT(script, Not(HasSubstr("vmap @ac_jump")));
  EXPECT_THAT(script, Not(HasSubstr("flush set inet egress ac")));
  NftOptions accepts;
  accepts.count_accepts_in_kernel = true;
  ASSERT_OK_AND_ASSIGN(std::string counted, RenderRuleSet(rules, accepts));
  // Last in the output chain: after every reject rule.
  const size_t entry = counted.find("meta nfproto vmap @ac_jump");
  ASSERT_NE(entry, std::string::npos) << counted;
  EXPECT_GT(entry, counted.rfind("jump reject_and_log"));
  EXPECT_LT(entry, counted.rfind("chain postrouting"));
  EXPECT_THAT(counted, HasSubstr("add @ac6p_b { meta skuid . ip6 daddr . meta l4proto . th dport } "
                                 "accept"));
  // Never without the kernel's REJECT counting (they share generations).
  accepts.count_rejects_in_kernel = false;
  ASSERT_OK_AND_ASSIGN(std::string without, RenderRuleSet(rules, accepts));
  EXPECT_THAT(without, Not(HasSubstr("vmap @ac_jump")));
}

TEST(NftScriptTest, DropsNetworksContainedInAnother) {
  v1::RuleSet rules;
  v1::AccountRules* a = rules.add_accounts();
  a->set_uid(1000);
  *a->add_rules() = Rule("10.1.0.0/16", v1::PROTOCOL_TCP, 443);
  *a->add_rules() = Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443);
  *a->add_rules() = Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443);
  *a->add_rules() = Rule("10.1.0.0/16", v1::PROTOCOL_TCP, 80);
  ASSERT_OK_AND_ASSIGN(std::string script, RenderRuleSet(rules, NftOptions{}));
  EXPECT_THAT(script, Not(HasSubstr("10.1.0.0/16 . tcp . 443")));
  EXPECT_THAT(script, HasSubstr("10.0.0.0/8 . tcp . 443"));
  EXPECT_THAT(script, HasSubstr("10.1.0.0/16 . tcp . 80"));
  EXPECT_EQ(script.find("10.0.0.0/8 . tcp . 443"), script.rfind("10.0.0.0/8 . tcp . 443"));
}

TEST(NftScriptTest, DeltaTouchesOnlyWhatChanged) {
  v1::RuleSet before;
  v1::AccountRules* a = before.add_accounts();
  a->set_uid(1000);
  a->set_egress_ipv4("192.0.2.1");
  *a->add_rules() = Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443);
  *a->add_rules() = Rule("10.1.0.0/16", v1::PROTOCOL_UDP, 53);
  v1::RuleSet after = before;
  after.mutable_accounts(0)->mutable_rules()->RemoveLast();
  *after.mutable_accounts(0)->add_rules() = Rule("192.0.2.0/24", v1::PROTOCOL_ANY, 0);
  after.mutable_accounts(0)->set_egress_ipv4("192.0.2.2");
  ASSERT_OK_AND_ASSIGN(NftElements from, BuildElements(before));
  ASSERT_OK_AND_ASSIGN(NftElements to, BuildElements(after));
  const std::string delta = RenderDelta(from, to, 2, NftOptions{});
  EXPECT_THAT(delta,
              HasSubstr("delete element inet egress rej4_port { 1000 . 10.1.0.0/16 . udp . 53 }"));
  EXPECT_THAT(delta, HasSubstr("add element inet egress rej4_addr { 1000 . 192.0.2.0/24 }"));
  // A changed map value: delete by key, add the new pair.
  EXPECT_THAT(delta, HasSubstr("delete element inet egress snat4 { 1000 }"));
  EXPECT_THAT(delta, HasSubstr("add element inet egress snat4 { 1000 : 192.0.2.2 }"));
  EXPECT_THAT(delta, Not(HasSubstr("10.0.0.0/8")));
  EXPECT_THAT(delta, Not(HasSubstr("uid2mark")));
  EXPECT_LT(delta.rfind("delete element"), delta.find("add element"));
  EXPECT_EQ(RenderDelta(to, to, 3, NftOptions{}), "");
}

TEST(NftScriptTest, DeltaOfASingleAddressTouchesOnlyTheHashSet) {
  v1::RuleSet before;
  v1::AccountRules* a = before.add_accounts();
  a->set_uid(1000);
  *a->add_rules() = Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443);
  v1::RuleSet after = before;
  *after.mutable_accounts(0)->add_rules() = Rule("2001:db8::5/128", v1::PROTOCOL_TCP, 443);
  ASSERT_OK_AND_ASSIGN(NftElements from, BuildElements(before));
  ASSERT_OK_AND_ASSIGN(NftElements to, BuildElements(after));
  EXPECT_EQ(RenderDelta(from, to, 2, NftOptions{}),
            "# egress-agent rule set version 2 (delta)\n"
            "add element inet egress rej6_port_host { 1000 . 2001:db8::5 . tcp . 443 }\n");
  // A single address inside a blocked network of the same kind is dropped.
  *after.mutable_accounts(0)->add_rules() = Rule("10.9.9.9/32", v1::PROTOCOL_TCP, 443);
  ASSERT_OK_AND_ASSIGN(NftElements contained, BuildElements(after));
  EXPECT_EQ(contained, to);
}

TEST(NftScriptTest, RejectsBadInputNamingTheField) {
  v1::RuleSet rules;
  v1::AccountRules* a = rules.add_accounts();
  a->set_uid(1000);
  *a->add_rules() = Rule("10.0.0.1/8", v1::PROTOCOL_TCP, 443);
  EXPECT_THAT(
      RenderRuleSet(rules, NftOptions{}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[0].rules[0].network")));
  a->mutable_rules(0)->set_network("10.0.0.0/8");
  a->mutable_rules(0)->set_port(70000);
  EXPECT_THAT(RenderRuleSet(rules, NftOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[0].rules[0].port")));
  a->mutable_rules(0)->set_port(0);
  a->mutable_rules(0)->set_protocol(v1::PROTOCOL_UNSPECIFIED);
  EXPECT_THAT(RenderRuleSet(rules, NftOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rules[0].protocol")));
  a->mutable_rules(0)->set_protocol(v1::PROTOCOL_ICMPV6);
  EXPECT_THAT(RenderRuleSet(rules, NftOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("icmpv6")));
  a->clear_rules();
  a->set_egress_ipv4("2001:db8::1");
  EXPECT_THAT(RenderRuleSet(rules, NftOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[0].egress_ipv4")));
  a->clear_egress_ipv4();
  rules.add_accounts()->set_uid(1000);
  EXPECT_THAT(RenderRuleSet(rules, NftOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[1].uid")));
  rules.mutable_accounts()->RemoveLast();
  rules.add_exempt_networks("nonsense");
  EXPECT_THAT(RenderRuleSet(rules, NftOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exempt_networks[0]")));
}

}  // namespace
}  // namespace egress::agent
