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

// A key as the kernel stores it: each field padded to 4 bytes.
std::string KernelKey(uint32_t uid, const std::vector<uint8_t>& address, int protocol, int port) {
  std::string key(reinterpret_cast<const char*>(&uid), 4);
  key.append(address.begin(), address.end());
  if (protocol < 0) return key;
  key.append({static_cast<char>(protocol), 0, 0, 0});
  if (port >= 0) key.append({static_cast<char>(port >> 8), static_cast<char>(port & 0xff), 0, 0});
  return key;
}

TEST(RejectCountSetsTest, DecodesKernelElementsOfEverySet) {
  ASSERT_OK_AND_ASSIGN(
      RejectCount v4,
      DecodeCountElement(0, KernelKey(3101, {127, 0, 0, 2}, 6, 443), 7, 86399998500));
  EXPECT_EQ(v4.uid, 3101u);
  EXPECT_EQ(v4.dst.ToString(), "127.0.0.2");
  EXPECT_EQ(v4.protocol, 6);
  EXPECT_EQ(v4.port, 443);
  EXPECT_EQ(v4.packets, 7u);
  EXPECT_EQ(v4.expires_seconds, 86399998);
  EXPECT_FALSE(v4.accepted());

  std::vector<uint8_t> v6(16, 0);
  v6[0] = 0xfd;
  v6[1] = 0x77;
  v6[15] = 1;
  ASSERT_OK_AND_ASSIGN(RejectCount icmp6, DecodeCountElement(8, KernelKey(2001, v6, 58, -1), 2, 0));
  EXPECT_TRUE(icmp6.accepted());
  EXPECT_EQ(icmp6.dst.ToString(), "fd77::1");
  EXPECT_EQ(icmp6.protocol, 58);
  EXPECT_EQ(icmp6.port, 0);
  ASSERT_OK_AND_ASSIGN(RejectCount udp6, DecodeCountElement(7, KernelKey(2001, v6, 17, 53), 1, 0));
  EXPECT_EQ(udp6.port, 53);

  ASSERT_OK_AND_ASSIGN(RejectCount over, DecodeCountElement(9, KernelKey(42, {}, -1, -1), 5, 0));
  EXPECT_TRUE(over.overflow());
  EXPECT_EQ(over.uid, 42u);
  EXPECT_EQ(over.packets, 5u);

  // A key of the wrong size for its set (an IPv6 key in an IPv4 set, a
  // port where none belongs, an unknown set).
  EXPECT_THAT(DecodeCountElement(0, KernelKey(1, v6, 6, 443), 1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeCountElement(1, KernelKey(1, {1, 2, 3, 4}, 6, 443), 1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeCountElement(10, KernelKey(1, {}, -1, -1), 1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RejectCountSetsTest, ParsesTheUnattributedCounter) {
  ASSERT_OK_AND_ASSIGN(
      uint64_t packets,
      ParseCounterPackets(Listing(
          R"({"counter": {"family": "inet", "name": "unattributed", "table": "egress", "handle": 9, "packets": 5, "bytes": 300}})")));
  EXPECT_EQ(packets, 5u);
  EXPECT_THAT(ParseCounterPackets(Listing(R"({"counter": {"name": "unattributed"}})")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCounterPackets("not json"), StatusIs(absl::StatusCode::kInvalidArgument));
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
