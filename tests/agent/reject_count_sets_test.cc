// The pure part of REJECT counting in the kernel: the JSON listings nft
// 1.0.6 gives for the generation map and the counting sets (copied from a
// real run), the persisted marks, generation numbers, first-seen times and
// the switch script.
#include "agent/reject_count_sets.h"

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::egress::testing::StatusIs;

constexpr char kMeta[] =
    R"({"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}})";

std::string Listing(const std::string& object) {
  return absl::StrCat(R"({"nftables": [)", kMeta, ", ", object, "]}");
}

TEST(RejectCountSetsTest, ParsesTheGenerationMap) {
  auto empty = ParseRejectGenerations(Listing(
      R"({"map": {"family": "inet", "name": "rc_gen", "table": "egress", "type": "mark", "handle": 8, "map": "mark"}})"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_FALSE(empty->has_value());

  auto gens = ParseRejectGenerations(Listing(
      R"({"map": {"family": "inet", "name": "rc_gen", "table": "egress", "type": "mark", "handle": 8, "map": "mark", "elem": [[0, 1], [1, 1700000000], [2, 1700000005]]}})"));
  ASSERT_TRUE(gens.ok()) << gens.status();
  ASSERT_TRUE(gens->has_value());
  EXPECT_EQ((*gens)->active, 1);
  EXPECT_EQ((*gens)->idle(), 0);
  EXPECT_EQ((*gens)->number[0], 1700000000u);
  EXPECT_EQ((*gens)->number[1], 1700000005u);

  // Missing entries, an active number not above the idle one, garbage.
  EXPECT_THAT(ParseRejectGenerations(
                  Listing(R"({"map": {"name": "rc_gen", "elem": [[0, 1], [1, 1700000000]]}})")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRejectGenerations(
                  Listing(R"({"map": {"name": "rc_gen", "elem": [[0, 0], [1, 5], [2, 9]]}})")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRejectGenerations("not json"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RejectCountSetsTest, ParsesCountingSetsWithNamesOrNumbers) {
  auto v4 = ParseRejectCountSet(
      Listing(
          R"({"set": {"family": "inet", "name": "rc4p_a", "table": "egress", "type": ["uid", "ipv4_addr", "inet_proto", "inet_service"], "handle": 3, "size": 65536, "flags": ["timeout"], "timeout": 86400000, "elem": [{"elem": {"val": {"concat": [3101, "127.0.0.2", "udp", 53]}, "expires": 86399999, "counter": {"packets": 2, "bytes": 60}}}, {"elem": {"val": {"concat": [0, "10.0.0.1", 6, 443]}, "expires": 86399990, "counter": {"packets": 3, "bytes": 180}}}], "stmt": [{"counter": null}]}})"),
      0);
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_EQ(v4->size(), 2u);
  EXPECT_EQ((*v4)[0].uid, 3101u);
  EXPECT_EQ((*v4)[0].dst.ToString(), "127.0.0.2");
  EXPECT_EQ((*v4)[0].protocol, 17);
  EXPECT_EQ((*v4)[0].port, 53);
  EXPECT_EQ((*v4)[0].packets, 2u);
  EXPECT_EQ((*v4)[0].expires_seconds, 86399999);
  EXPECT_EQ((*v4)[1].protocol, 6);
  EXPECT_EQ((*v4)[1].packets, 3u);

  auto v6 = ParseRejectCountSet(
      Listing(
          R"({"set": {"name": "rc6n_b", "elem": [{"elem": {"val": {"concat": [2001, "fd77::100", 58]}, "expires": 5, "counter": {"packets": 7, "bytes": 0}}}]}})"),
      3);
  ASSERT_TRUE(v6.ok()) << v6.status();
  ASSERT_EQ(v6->size(), 1u);
  EXPECT_EQ((*v6)[0].dst.ToString(), "fd77::100");
  EXPECT_EQ((*v6)[0].protocol, 58);
  EXPECT_EQ((*v6)[0].port, 0);

  auto over = ParseRejectCountSet(
      Listing(
          R"({"set": {"name": "rc_over_a", "elem": [{"elem": {"val": 3101, "expires": 86399999, "counter": {"packets": 2, "bytes": 120}}}]}})"),
      4);
  ASSERT_TRUE(over.ok()) << over.status();
  ASSERT_EQ(over->size(), 1u);
  EXPECT_EQ((*over)[0].uid, 3101u);
  EXPECT_EQ((*over)[0].packets, 2u);

  // The accept sets (positions 5-9) have the same keys as the reject sets.
  auto accepted = ParseRejectCountSet(
      Listing(
          R"({"set": {"name": "ac6p_a", "elem": [{"elem": {"val": {"concat": [2001, "fd77::100", "tcp", 443]}, "expires": 86399998, "counter": {"packets": 4, "bytes": 0}}}]}})"),
      7);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  ASSERT_EQ(accepted->size(), 1u);
  EXPECT_TRUE((*accepted)[0].accepted());
  EXPECT_FALSE((*accepted)[0].overflow());
  EXPECT_EQ((*accepted)[0].dst.ToString(), "fd77::100");
  EXPECT_EQ((*accepted)[0].port, 443);
  EXPECT_EQ((*accepted)[0].packets, 4u);
  auto accepted_over = ParseRejectCountSet(
      Listing(
          R"({"set": {"name": "ac_over_b", "elem": [{"elem": {"val": 3101, "counter": {"packets": 9, "bytes": 0}}}]}})"),
      9);
  ASSERT_TRUE(accepted_over.ok()) << accepted_over.status();
  ASSERT_EQ(accepted_over->size(), 1u);
  EXPECT_TRUE((*accepted_over)[0].accepted());
  EXPECT_TRUE((*accepted_over)[0].overflow());
  // An IPv4 address in the IPv6 accept set.
  EXPECT_THAT(
      ParseRejectCountSet(
          Listing(
              R"({"set": {"elem": [{"elem": {"val": {"concat": [1, "1.2.3.4", 6, 1]}, "counter": {"packets": 1}}}]}})"),
          7),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(over->front().accepted());
  EXPECT_TRUE(over->front().overflow());

  auto none = ParseRejectCountSet(Listing(R"({"set": {"name": "rc4p_a"}})"), 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // An IPv6 address in an IPv4 set, a missing counter, a short key.
  EXPECT_THAT(
      ParseRejectCountSet(
          Listing(
              R"({"set": {"elem": [{"elem": {"val": {"concat": [1, "fd77::1", 6, 1]}, "counter": {"packets": 1}}}]}})"),
          0),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      ParseRejectCountSet(
          Listing(R"({"set": {"elem": [{"elem": {"val": {"concat": [1, "1.2.3.4", 6, 1]}}}]}})"),
          0),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      ParseRejectCountSet(
          Listing(
              R"({"set": {"elem": [{"elem": {"val": {"concat": [1, "1.2.3.4", 6]}, "counter": {"packets": 1}}}]}})"),
          0),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RejectCountSetsTest, MarksTellWhatWasCounted) {
  const uint64_t mark = RejectMark(100, 7);
  EXPECT_EQ(KeysCounted(mark, 99), kAllKeys);  // an older generation: all
  EXPECT_EQ(KeysCounted(mark, 100), 7u);       // this one: 7 keys so far
  EXPECT_EQ(KeysCounted(mark, 101), 0u);       // a newer one: nothing
  EXPECT_EQ(KeysCounted(RejectMark(100, kAllKeys), 100), kAllKeys);
  EXPECT_LT(RejectMark(100, 7), RejectMark(100, kAllKeys));
  EXPECT_LT(RejectMark(100, kAllKeys), RejectMark(101, 0));
  EXPECT_EQ(KeysCounted(0, 1), 0u);
}

TEST(RejectCountSetsTest, GenerationNumbersOnlyGrow) {
  RejectGenerations g;
  g.active = 0;
  g.number[0] = 1000;
  g.number[1] = 990;
  EXPECT_EQ(NextGenerationNumber(g, 0, absl::FromUnixSeconds(2000)), 2000u);
  // Two switches in one second, or a clock that went back.
  EXPECT_EQ(NextGenerationNumber(g, 0, absl::FromUnixSeconds(1000)), 1001u);
  EXPECT_EQ(NextGenerationNumber(g, 0, absl::FromUnixSeconds(5)), 1001u);
  // Above the persisted mark, even when the table is fresh.
  EXPECT_EQ(NextGenerationNumber(RejectGenerations(), RejectMark(5000, kAllKeys),
                                 absl::FromUnixSeconds(2000)),
            5001u);
}

TEST(RejectCountSetsTest, FirstSeenComesFromTheTimeoutAndStaysInTheGeneration) {
  RejectCount c;
  c.expires_seconds = kRejectCountTimeoutSeconds - 30;  // added 30 s before the read
  const absl::Time read = absl::FromUnixSeconds(10'000);
  EXPECT_EQ(RejectFirstSeen(c, read, 9'000, 0), absl::FromUnixSeconds(9'970));
  EXPECT_EQ(RejectFirstSeen(c, read, 9'990, 0), absl::FromUnixSeconds(9'990));
  EXPECT_EQ(RejectFirstSeen(c, read, 9'000, 9'950),
            absl::FromUnixSeconds(9'950) - absl::Nanoseconds(1));
  c.expires_seconds = 0;  // unknown: the read time, clamped
  EXPECT_EQ(RejectFirstSeen(c, read, 9'000, 0), read);
}

TEST(RejectCountSetsTest, TheSwitchFlushesOnlyTheIdleGenerationInOneScript) {
  RejectGenerations g;
  g.active = 0;
  g.number[0] = 1000;
  g.number[1] = 990;
  const std::string s = RenderGenerationSwitch("egress", g, 1001);
  EXPECT_TRUE(absl::StrContains(s, "flush set inet egress rc4p_b\n")) << s;
  EXPECT_TRUE(absl::StrContains(s, "flush set inet egress rc_over_b\n")) << s;
  EXPECT_FALSE(absl::StrContains(s, "_a\n")) << s;
  EXPECT_TRUE(absl::StrContains(s, "rc_gen { 0 : 1, 2 : 1001 }")) << s;
  EXPECT_TRUE(absl::StrContains(s, "rc_jump { ipv4 : goto rc4_b, ipv6 : goto rc6_b }")) << s;
  // The accept sets switch with the reject sets, in the same script.
  EXPECT_TRUE(absl::StrContains(s, "flush set inet egress ac4p_b\n")) << s;
  EXPECT_TRUE(absl::StrContains(s, "flush set inet egress ac_over_b\n")) << s;
  EXPECT_TRUE(absl::StrContains(s, "flush map inet egress ac_jump\n")) << s;
  EXPECT_TRUE(absl::StrContains(s, "ac_jump { ipv4 : jump ac4_b, ipv6 : jump ac6_b }")) << s;
  const std::string init = RenderGenerationInit("egress", 7);
  EXPECT_TRUE(absl::StrContains(init, "rc_gen { 0 : 0, 1 : 7, 2 : 0 }")) << init;
  EXPECT_TRUE(absl::StrContains(init, "ac_jump { ipv4 : jump ac4_a, ipv6 : jump ac6_a }")) << init;
}

TEST(RejectCountSetsTest, TenSetsPerGenerationRejectsFirst) {
  const std::vector<std::string> names = RejectCountSetNames(1);
  ASSERT_EQ(names.size(), 2u * kCountSetsPerKind);
  EXPECT_EQ(names[0], "rc4p_b");
  EXPECT_EQ(names[4], "rc_over_b");
  EXPECT_EQ(names[5], "ac4p_b");
  EXPECT_EQ(names[9], "ac_over_b");
  // Only the first packet of a new connection, once no reject rule took it.
  const std::string entry = RenderAcceptCountEntryRules();
  EXPECT_TRUE(absl::StrContains(entry, "ct status ! confirmed")) << entry;
  EXPECT_TRUE(absl::StrContains(entry, "vmap @ac_jump")) << entry;
}

}  // namespace
}  // namespace egress::agent
