// NftElementsCache: an incremental apply renders the same delta, and leaves
// the same elements, as full builds of the old and new RuleSets.
#include "agent/nft_elements_cache.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/rule_match.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::egress::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

using ::egress::testing::Rule;

// Two accounts with a bit of everything, and exempt networks.
v1::RuleSet Base() {
  v1::RuleSet rules;
  rules.set_version(1);
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
  v1::AccountRules* b = rules.add_accounts();
  b->set_uid(1001);
  *b->add_rules() = Rule("192.0.2.7/32", v1::PROTOCOL_TCP, 443);
  b->set_egress_ipv6("2001:db8:1::100");
  return rules;
}

// The cache, committed at `rules` (checked against a full build).
void CommitFull(NftElementsCache* cache, const v1::RuleSet& rules) {
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update update, cache->Prepare(rules));
  cache->Commit(std::move(update));
  ASSERT_OK_AND_ASSIGN(NftElements full, BuildElements(rules));
  ASSERT_EQ(cache->Elements(), full);
}

// Applies `to` to a cache holding `from`; returns the rendered delta after
// checking it, and the cache's elements, against full builds.
std::string ExpectSameAsFull(NftElementsCache* cache, const v1::RuleSet& from,
                             const v1::RuleSet& to) {
  auto full_from = BuildElements(from);
  auto full_to = BuildElements(to);
  EXPECT_TRUE(full_from.ok() && full_to.ok());
  if (!full_from.ok() || !full_to.ok()) return "";
  auto update = cache->Prepare(to);
  EXPECT_TRUE(update.ok()) << update.status();
  if (!update.ok()) return "";
  const std::string delta = RenderDelta(update->delta(), to.version(), NftOptions{});
  EXPECT_EQ(delta, RenderDelta(*full_from, *full_to, to.version(), NftOptions{}));
  cache->Commit(*std::move(update));
  EXPECT_EQ(cache->Elements(), *full_to);
  return delta;
}

class NftElementsCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = Base();
    CommitFull(&cache_, base_);
    next_ = base_;
    next_.set_version(2);
  }
  NftElementsCache cache_;
  v1::RuleSet base_;
  v1::RuleSet next_;
};

TEST_F(NftElementsCacheTest, RuleAdded) {
  *next_.mutable_accounts(0)->add_rules() = Rule("192.0.2.8/32", v1::PROTOCOL_TCP, 443);
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "add element inet egress rej4_port_host { 1000 . 192.0.2.8 . tcp . 443 }\n");
}

TEST_F(NftElementsCacheTest, RuleRemoved) {
  next_.mutable_accounts(0)->mutable_rules()->DeleteSubrange(2, 1);  // 203.0.113.0/24 any:25
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "delete element inet egress rej4_port { 1000 . 203.0.113.0/24 . tcp . 25, "
            "1000 . 203.0.113.0/24 . udp . 25 }\n");
}

TEST_F(NftElementsCacheTest, RuleEditedInTheMiddleOfManyRules) {
  v1::RuleSet from = base_;
  for (int r = 0; r < 2000; ++r) {
    *from.mutable_accounts(0)->add_rules() =
        Rule(absl::StrCat("10.", r / 256, ".", r % 256, ".1/32"), v1::PROTOCOL_TCP, 443);
  }
  ExpectSameAsFull(&cache_, base_, from);
  v1::RuleSet to = from;
  to.mutable_accounts(0)->mutable_rules(1000)->set_network("10.200.0.1/32");
  EXPECT_EQ(ExpectSameAsFull(&cache_, from, to),
            "# egress-agent rule set version 1 (delta)\n"
            "delete element inet egress rej4_port_host { 1000 . 10.3.227.1 . tcp . 443 }\n"
            "add element inet egress rej4_port_host { 1000 . 10.200.0.1 . tcp . 443 }\n");
}

TEST_F(NftElementsCacheTest, NetworkAddedAndRemovedHidesAndRevealsWhatItContains) {
  v1::AccountRules* a = next_.mutable_accounts(0);
  *a->add_rules() = Rule("192.0.2.0/24", v1::PROTOCOL_TCP, 443);  // contains 192.0.2.7
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "delete element inet egress rej4_port_host { 1000 . 192.0.2.7 . tcp . 443 }\n"
            "add element inet egress rej4_port { 1000 . 192.0.2.0/24 . tcp . 443 }\n");
  v1::RuleSet with_network = next_;
  // The same network twice: removing one copy leaves it in force.
  *next_.mutable_accounts(0)->add_rules() = Rule("192.0.2.0/24", v1::PROTOCOL_TCP, 443);
  EXPECT_EQ(ExpectSameAsFull(&cache_, with_network, next_), "");
  v1::RuleSet twice = next_;
  next_.mutable_accounts(0)->mutable_rules()->RemoveLast();
  EXPECT_EQ(ExpectSameAsFull(&cache_, twice, next_), "");
  // Removing the network brings the address back.
  next_.mutable_accounts(0)->mutable_rules()->RemoveLast();
  ExpectSameAsFull(&cache_, with_network, next_);
  EXPECT_EQ(cache_.Elements(), *BuildElements(base_));
}

TEST_F(NftElementsCacheTest, RulesReorderedChangeNothing) {
  v1::AccountRules* a = next_.mutable_accounts(0);
  a->mutable_rules()->SwapElements(0, a->rules_size() - 1);
  a->mutable_rules(1)->set_rule_id(77);  // ids make no element
  a->set_account_id("renamed");
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_), "");
}

TEST_F(NftElementsCacheTest, AccountAddedAndRemoved) {
  v1::AccountRules* c = next_.add_accounts();
  c->set_uid(1002);
  *c->add_rules() = Rule("2001:db8::5/128", v1::PROTOCOL_UDP, 53);
  c->set_block_all(true);
  c->set_egress_ipv4("192.0.2.101");
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "add element inet egress block_all { 1002 }\n"
            "add element inet egress rej6_port_host { 1002 . 2001:db8::5 . udp . 53 }\n"
            "add element inet egress snat4 { 1002 : 192.0.2.101 }\n"
            "add element inet egress uid2mark { 1002 : 0x800003ea }\n");
  v1::RuleSet with_c = next_;
  next_.mutable_accounts()->DeleteSubrange(0, 1);  // uid 1000 goes
  const std::string delta = ExpectSameAsFull(&cache_, with_c, next_);
  EXPECT_THAT(delta, HasSubstr("delete element inet egress uid2mark { 1000 }"));
  EXPECT_THAT(delta, HasSubstr("delete element inet egress snat4 { 1000 }"));
  EXPECT_THAT(delta, Not(HasSubstr("add element")));
  // Accounts in another order are the same accounts.
  v1::RuleSet without_a = next_;
  next_.mutable_accounts()->SwapElements(0, 1);
  EXPECT_EQ(ExpectSameAsFull(&cache_, without_a, next_), "");
}

TEST_F(NftElementsCacheTest, BlockAllToggled) {
  next_.mutable_accounts(1)->set_block_all(true);
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "add element inet egress block_all { 1001 }\n");
  v1::RuleSet blocked = next_;
  next_.mutable_accounts(1)->set_block_all(false);
  EXPECT_EQ(ExpectSameAsFull(&cache_, blocked, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "delete element inet egress block_all { 1001 }\n");
}

TEST_F(NftElementsCacheTest, EgressAddressChanged) {
  next_.mutable_accounts(0)->set_egress_ipv4("192.0.2.200");
  next_.mutable_accounts(0)->set_egress_ipv6("2001:DB8:1::200");  // normalised
  next_.mutable_accounts(1)->clear_egress_ipv6();
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "delete element inet egress snat4 { 1000 }\n"
            "delete element inet egress snat6 { 1001 }\n"
            "add element inet egress snat4 { 1000 : 192.0.2.200 }\n"
            "add element inet egress snat6 { 1000 : 2001:db8:1::200 }\n");
}

TEST_F(NftElementsCacheTest, ExemptNetworksChanged) {
  next_.clear_exempt_networks();
  next_.add_exempt_networks("fd50::/64");
  next_.add_exempt_networks("10.60.0.0/16");
  next_.add_exempt_networks("10.60.1.0/24");  // contained: dropped
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "delete element inet egress exempt4 { 10.50.0.0/16 }\n"
            "add element inet egress exempt4 { 10.60.0.0/16 }\n");
  v1::RuleSet exempt = next_;
  next_.clear_exempt_networks();
  const std::string delta = ExpectSameAsFull(&cache_, exempt, next_);
  EXPECT_THAT(delta, HasSubstr("delete element inet egress exempt6 { fd50::/64 }"));
  EXPECT_THAT(delta, Not(HasSubstr("rej")));
}

TEST_F(NftElementsCacheTest, BadRuleInAChangedAccountNamesTheFieldAndChangesNothing) {
  const NftElements before = cache_.Elements();
  *next_.mutable_accounts(1)->add_rules() = Rule("10.0.0.1/8", v1::PROTOCOL_TCP, 443);
  EXPECT_THAT(cache_.Prepare(next_), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("accounts[1].rules[1].network")));
  // The first bad field in RuleSet order, as a full build names it.
  next_.mutable_accounts(1)->set_egress_ipv4("2001:db8::1");
  next_.mutable_accounts(0)->mutable_rules(3)->set_port(70000);
  EXPECT_THAT(cache_.Prepare(next_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[0].rules[3].port")));
  EXPECT_EQ(BuildElements(next_).status().message(), cache_.Prepare(next_).status().message());
  next_.mutable_accounts(0)->mutable_rules(3)->set_port(0);
  EXPECT_THAT(cache_.Prepare(next_), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("accounts[1].rules[1].network")));
  next_.mutable_accounts(1)->mutable_rules()->RemoveLast();
  EXPECT_THAT(cache_.Prepare(next_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[1].egress_ipv4")));
  next_.add_accounts()->set_uid(1000);
  EXPECT_THAT(cache_.Prepare(next_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[1].egress_ipv4")));
  next_.mutable_accounts(1)->clear_egress_ipv4();
  EXPECT_THAT(cache_.Prepare(next_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("accounts[2].uid")));
  next_.mutable_accounts()->RemoveLast();
  next_.add_exempt_networks("nonsense");
  EXPECT_THAT(cache_.Prepare(next_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exempt_networks[2]")));

  // Nothing was committed: the cache still holds the base, and the next good
  // RuleSet's delta starts from it.
  EXPECT_EQ(cache_.Elements(), before);
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update same, cache_.Prepare(base_));
  EXPECT_EQ(RenderDelta(same.delta(), 1, NftOptions{}), "");
  next_.mutable_exempt_networks()->RemoveLast();
  *next_.mutable_accounts(1)->add_rules() = Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443);
  EXPECT_EQ(ExpectSameAsFull(&cache_, base_, next_),
            "# egress-agent rule set version 2 (delta)\n"
            "add element inet egress rej4_port { 1001 . 10.0.0.0/8 . tcp . 443 }\n");
}

TEST_F(NftElementsCacheTest, ClearMakesTheNextDeltaAddEverything) {
  cache_.Clear();
  EXPECT_EQ(cache_.Elements(), *BuildElements(v1::RuleSet()));
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update update, cache_.Prepare(base_));
  EXPECT_TRUE(update.delta().removed.empty());
  NftElements added = update.delta().added;
  ASSERT_OK_AND_ASSIGN(NftElements full, BuildElements(base_));
  for (const auto& [name, list] : full) {
    if (!list.empty()) {
      EXPECT_EQ(added[name], list) << name;
    }
  }
}

// Random RuleSets (fixed seed) changed one edit at a time: accounts added,
// removed and reordered, rules added, removed, moved and broken, nested
// networks, block_all, egress addresses, exempt networks. Every step renders
// the delta that full builds render, or the error they return, and the cache
// then holds what a full build holds.
TEST(NftElementsCacheRandomTest, EveryStepMatchesFullBuilds) {
  std::mt19937 rng(20261127);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto network = [&]() -> std::string {
    switch (pick(8)) {
      case 0:
        return absl::StrCat("10.", pick(3), ".0.0/16");
      case 1:
        return "10.0.0.0/8";
      case 2:
        return absl::StrCat("10.", pick(3), ".", pick(3), ".0/24");
      case 3:
        return absl::StrCat("2001:db8:", pick(3), "::/48");
      case 4:
        return absl::StrCat("2001:db8:", pick(3), "::", pick(5) + 1, "/128");
      case 5:
        return "2001:db8::/32";
      default:
        return absl::StrCat("10.", pick(3), ".", pick(3), ".", pick(5), "/32");
    }
  };
  auto rule = [&]() {
    const std::string n = network();
    const bool v4 = n.find(':') == std::string::npos;
    switch (pick(5)) {
      case 0:
        return Rule(n, v4 ? v1::PROTOCOL_ICMP : v1::PROTOCOL_ICMPV6, 0);
      case 1:
        return Rule(n, v1::PROTOCOL_ANY, pick(2) ? 0 : 53);
      default:
        return Rule(n, pick(2) ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP, pick(3) == 0 ? 0 : 443);
    }
  };
  NftElementsCache cache;
  v1::RuleSet committed;
  int errors = 0, deltas = 0;
  for (int step = 0; step < 3000; ++step) {
    v1::RuleSet next = committed;
    next.set_version(step);
    const int n = next.accounts_size();
    v1::AccountRules* a = n > 0 ? next.mutable_accounts(pick(n)) : nullptr;
    switch (a == nullptr ? 0 : pick(11)) {
      case 0: {
        v1::AccountRules* added = next.add_accounts();
        added->set_uid(1000 + pick(12));  // sometimes a uid already listed
        for (int i = pick(6); i > 0; --i) *added->add_rules() = rule();
        break;
      }
      case 1:
        next.mutable_accounts()->DeleteSubrange(pick(n), 1);
        break;
      case 2:
      case 3:
        *a->add_rules() = rule();
        break;
      case 4:
        if (a->rules_size() > 0) a->mutable_rules()->DeleteSubrange(pick(a->rules_size()), 1);
        break;
      case 5:
        a->set_block_all(!a->block_all());
        break;
      case 6:
        a->set_egress_ipv4(pick(2) ? absl::StrCat("192.0.2.", pick(3)) : "");
        a->set_egress_ipv6(pick(2) ? absl::StrCat("2001:db8:9::", pick(3)) : "");
        break;
      case 7:
        next.clear_exempt_networks();
        for (int i = pick(3); i > 0; --i) next.add_exempt_networks(network());
        break;
      case 8:
        if (a->rules_size() > 1) a->mutable_rules()->SwapElements(0, a->rules_size() - 1);
        if (n > 1) next.mutable_accounts()->SwapElements(0, n - 1);
        break;
      case 9:
        if (a->rules_size() > 0) {
          v1::RuleMatch* r = a->mutable_rules(pick(a->rules_size()));
          const char* bad[] = {"10.0.0.1/8", "x", "", "1.2.3.4/33"};
          const int b = pick(5);
          if (b < 4) r->set_network(bad[b]);
          if (b == 4) r->set_port(70000);
        }
        break;
      case 10:
        if (a->rules_size() > 0) *a->mutable_rules(pick(a->rules_size())) = rule();
        break;
    }
    auto full = BuildElements(next);
    auto update = cache.Prepare(next);
    if (!full.ok()) {
      ASSERT_FALSE(update.ok()) << "step " << step;
      ASSERT_EQ(update.status(), full.status()) << "step " << step;
      ++errors;
      continue;
    }
    ASSERT_TRUE(update.ok()) << "step " << step << ": " << update.status();
    ASSERT_EQ(RenderDelta(update->delta(), next.version(), NftOptions{}),
              RenderDelta(*BuildElements(committed), *full, next.version(), NftOptions{}))
        << "step " << step;
    deltas += update->delta().added.empty() && update->delta().removed.empty() ? 0 : 1;
    cache.Commit(*std::move(update));
    ASSERT_EQ(cache.Elements(), *full) << "step " << step;
    committed = next;
  }
  // The walk did exercise both paths.
  EXPECT_GT(errors, 100);
  EXPECT_GT(deltas, 1000);
}

}  // namespace
}  // namespace egress::agent
