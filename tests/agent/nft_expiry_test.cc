// Temporary rules in the agent's elements and scripts (no kernel): elements
// are keyed by their match, their expiry rendered as the `timeout` left at
// render time; expired rules make no element and are never deleted; a
// single address that outlives a network containing it keeps its element.
#include "agent/nft_elements_cache.h"
#include "agent/nft_script.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

v1::RuleMatch Rule(const char* network, v1::Protocol protocol, uint32_t port,
                   std::optional<absl::Time> until = std::nullopt) {
  v1::RuleMatch r;
  r.set_network(network);
  r.set_protocol(protocol);
  r.set_port(port);
  if (until.has_value()) {
    const int64_t micros = absl::ToUnixMicros(*until);
    r.mutable_expire_time()->set_seconds(micros / 1000000);
    r.mutable_expire_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  }
  return r;
}

v1::RuleSet OneAccount(std::vector<v1::RuleMatch> rules) {
  v1::RuleSet set;
  set.set_version(1);
  v1::AccountRules* a = set.add_accounts();
  a->set_uid(1000);
  for (v1::RuleMatch& r : rules) *a->add_rules() = std::move(r);
  return set;
}

TEST(NftExpiryTest, TemporaryElementsCarryTheTimeLeftAndExpiredOnesAreLeftOut) {
  const v1::RuleSet rules = OneAccount({
      Rule("192.0.2.7/32", v1::PROTOCOL_TCP, 443, kNow + absl::Minutes(52)),
      Rule("198.51.100.0/24", v1::PROTOCOL_UDP, 0, kNow + absl::Milliseconds(2500)),
      Rule("192.0.2.8/32", v1::PROTOCOL_TCP, 443),
      Rule("192.0.2.9/32", v1::PROTOCOL_TCP, 443, kNow - absl::Seconds(1)),
  });
  NftElementExpiries expiries;
  ASSERT_OK_AND_ASSIGN(NftElements elements, BuildElements(rules, &expiries, kNow));
  // Keyed by the match only; the expired rule makes no element.
  EXPECT_THAT(elements["rej4_port_host"],
              ElementsAre("1000 . 192.0.2.7 . tcp . 443", "1000 . 192.0.2.8 . tcp . 443"));
  EXPECT_EQ(expiries["rej4_port_host"]["1000 . 192.0.2.7 . tcp . 443"],
            absl::ToUnixMicros(kNow + absl::Minutes(52)));
  EXPECT_FALSE(expiries["rej4_port_host"].contains("1000 . 192.0.2.8 . tcp . 443"));

  const std::string script = RenderScript(elements, 1, NftOptions{}, NftApplyMode::kInPlace,
                                          &expiries, kNow + absl::Milliseconds(500));
  EXPECT_THAT(script, HasSubstr("1000 . 192.0.2.7 . tcp . 443 timeout 3119s500ms,\n"
                                "      1000 . 192.0.2.8 . tcp . 443 }"));
  EXPECT_THAT(script, HasSubstr("1000 . 198.51.100.0/24 . udp timeout 2s }"));
  EXPECT_THAT(script, HasSubstr("flags interval, timeout;"));
  EXPECT_THAT(script, Not(HasSubstr("192.0.2.9")));
  // Rendered later (a boot replay): only the time left, and nothing once
  // expired (`timeout 0` would mean "never").
  const std::string later = RenderScript(elements, 1, NftOptions{}, NftApplyMode::kInPlace,
                                         &expiries, kNow + absl::Seconds(3));
  EXPECT_THAT(later, HasSubstr("1000 . 192.0.2.7 . tcp . 443 timeout 3117s,"));
  EXPECT_THAT(later, Not(HasSubstr("198.51.100.0/24")));
}

TEST(NftExpiryTest, ExtendingReplacesTheElementAndWhatExpiredIsNeverDeleted) {
  NftElementsCache cache;
  const absl::Time until = kNow + absl::Hours(1);
  ASSERT_OK_AND_ASSIGN(
      NftElementsCache::Update first,
      cache.Prepare(
          OneAccount({Rule("192.0.2.7/32", v1::PROTOCOL_ANY, 0, until),
                      Rule("192.0.2.8/32", v1::PROTOCOL_ANY, 0, kNow + absl::Seconds(5))}),
          kNow));
  cache.Commit(std::move(first));
  EXPECT_EQ(cache.Expiries()["rej4_addr_host"].size(), 2u);

  // The first extended to a day; the second ran out meanwhile, and the
  // service's next rule set no longer lists it.
  const absl::Time later = kNow + absl::Seconds(10);
  ASSERT_OK_AND_ASSIGN(
      NftElementsCache::Update extend,
      cache.Prepare(OneAccount({Rule("192.0.2.7/32", v1::PROTOCOL_ANY, 0, kNow + absl::Hours(24))}),
                    later));
  const std::string delta = RenderDelta(extend.delta(), 2, NftOptions{}, later);
  EXPECT_EQ(delta,
            "# egress-agent rule set version 2 (delta)\n"
            "delete element inet egress rej4_addr_host { 1000 . 192.0.2.7 }\n"
            "add element inet egress rej4_addr_host { 1000 . 192.0.2.7 timeout 86390s }\n");
  cache.Commit(std::move(extend));

  // Made permanent: the element is added again without a timeout.
  ASSERT_OK_AND_ASSIGN(
      NftElementsCache::Update permanent,
      cache.Prepare(OneAccount({Rule("192.0.2.7/32", v1::PROTOCOL_ANY, 0)}), later));
  EXPECT_EQ(RenderDelta(permanent.delta(), 3, NftOptions{}, later),
            "# egress-agent rule set version 3 (delta)\n"
            "delete element inet egress rej4_addr_host { 1000 . 192.0.2.7 }\n"
            "add element inet egress rej4_addr_host { 1000 . 192.0.2.7 }\n");
}

TEST(NftExpiryTest, AnAddressThatOutlivesItsNetworkKeepsItsElement) {
  const v1::RuleSet rules = OneAccount({
      Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443, kNow + absl::Hours(1)),
      Rule("10.9.9.9/32", v1::PROTOCOL_TCP, 443),                           // outlives it
      Rule("10.9.9.8/32", v1::PROTOCOL_TCP, 443, kNow + absl::Minutes(5)),  // does not
      Rule("10.1.0.0/16", v1::PROTOCOL_TCP, 443),                           // hidden until then
  });
  NftElementExpiries expiries;
  ASSERT_OK_AND_ASSIGN(NftElements elements, BuildElements(rules, &expiries, kNow));
  EXPECT_THAT(elements["rej4_port"], ElementsAre("1000 . 10.0.0.0/8 . tcp . 443"));
  EXPECT_THAT(elements["rej4_port_host"], ElementsAre("1000 . 10.9.9.9 . tcp . 443"));
  // Once the /8 ran out (the service's next rule set drops it), the /16 is
  // an element again.
  NftElementsCache cache;
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update first, cache.Prepare(rules, kNow));
  cache.Commit(std::move(first));
  v1::RuleSet after = rules;
  after.mutable_accounts(0)->mutable_rules()->DeleteSubrange(0, 1);
  const absl::Time later = kNow + absl::Hours(2);
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update update, cache.Prepare(after, later));
  EXPECT_EQ(RenderDelta(update.delta(), 2, NftOptions{}, later),
            "# egress-agent rule set version 2 (delta)\n"
            "add element inet egress rej4_port { 1000 . 10.1.0.0/16 . tcp . 443 }\n");
}

TEST(NftExpiryTest, TheSameRuleSetAfterAnExpiryBringsBackWhatTheExpiredRuleHid) {
  const absl::Time until = kNow + absl::Minutes(10);
  const v1::RuleSet rules = OneAccount({
      Rule("10.0.0.0/8", v1::PROTOCOL_TCP, 443, until),
      Rule("10.1.0.0/16", v1::PROTOCOL_TCP, 443),
      Rule("192.0.2.1/32", v1::PROTOCOL_UDP, 53, kNow + absl::Hours(3)),
  });
  NftElementsCache cache;
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update first, cache.Prepare(rules, kNow));
  cache.Commit(std::move(first));
  EXPECT_EQ(cache.NextExpiry(), until);
  // Before the expiry nothing changes; at it, the /16 is an element again,
  // and the /8 (dropped by the kernel) is not deleted.
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update before,
                       cache.Prepare(rules, until - absl::Milliseconds(1)));
  EXPECT_EQ(RenderDelta(before.delta(), 1, NftOptions{}, until), "");
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update at, cache.Prepare(rules, until));
  EXPECT_EQ(RenderDelta(at.delta(), 1, NftOptions{}, until),
            "# egress-agent rule set version 1 (delta)\n"
            "add element inet egress rej4_port { 1000 . 10.1.0.0/16 . tcp . 443 }\n");
  cache.Commit(std::move(at));
  EXPECT_EQ(cache.NextExpiry(), kNow + absl::Hours(3));
  ASSERT_OK_AND_ASSIGN(NftElementsCache::Update again,
                       cache.Prepare(rules, until + absl::Seconds(1)));
  EXPECT_EQ(RenderDelta(again.delta(), 1, NftOptions{}, until), "");
}

}  // namespace
}  // namespace egress::agent
