#include "service/enrichment/owner_range_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress {
namespace {

using ::testing::Eq;
using ::testing::Optional;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
IpNetwork Net(const char* text) { return *IpNetwork::Parse(text); }

OwnerRangeTable Nested() {
  OwnerRangeTable::Builder builder;
  // Added out of order on purpose.
  builder.AddNetwork(Net("10.1.2.0/24"), 3, "fr", false);
  builder.AddNetwork(Net("10.0.0.0/8"), 1, "US", false);
  builder.AddNetwork(Net("10.1.0.0/16"), 2, "DE", true);
  builder.AddNetwork(Net("10.1.2.128/25"), 4, "", false);
  builder.AddNetwork(Net("255.255.255.0/24"), 5, "ZZ", false);
  builder.AddNetwork(Net("2001:db8::/32"), 6, "NL", false);
  builder.AddNetwork(Net("2001:db8:1::/48"), 7, "BE", false);
  builder.AddNetwork(Net("ffff::/16"), 8, "", false);
  builder.AddAsName(1, "One");
  builder.AddAsName(2, "Two");
  builder.AddAsName(7, "Seven");
  return std::move(builder).Build();
}

TEST(OwnerRangeTableTest, MostSpecificNetworkWins) {
  OwnerRangeTable table = Nested();
  EXPECT_EQ(table.network_count(), 8u);
  EXPECT_THAT(table.Lookup(Ip("10.0.0.0")),
              Optional(Eq(OwnerInfo{Net("10.0.0.0/8"), 1, "One", "US", false})));
  EXPECT_THAT(table.Lookup(Ip("10.1.1.255")),
              Optional(Eq(OwnerInfo{Net("10.1.0.0/16"), 2, "Two", "DE", true})));
  EXPECT_THAT(table.Lookup(Ip("10.1.2.0")),
              Optional(Eq(OwnerInfo{Net("10.1.2.0/24"), 3, "", "FR", false})));
  EXPECT_THAT(table.Lookup(Ip("10.1.2.127")),
              Optional(Eq(OwnerInfo{Net("10.1.2.0/24"), 3, "", "FR", false})));
  EXPECT_THAT(table.Lookup(Ip("10.1.2.200")),
              Optional(Eq(OwnerInfo{Net("10.1.2.128/25"), 4, "", "", false})));
  // After the nested networks close, the enclosing ones own again.
  EXPECT_THAT(table.Lookup(Ip("10.1.3.0")),
              Optional(Eq(OwnerInfo{Net("10.1.0.0/16"), 2, "Two", "DE", true})));
  EXPECT_THAT(table.Lookup(Ip("10.2.0.0")),
              Optional(Eq(OwnerInfo{Net("10.0.0.0/8"), 1, "One", "US", false})));
  EXPECT_THAT(table.Lookup(Ip("10.255.255.255")),
              Optional(Eq(OwnerInfo{Net("10.0.0.0/8"), 1, "One", "US", false})));
  // Edges of the address space.
  EXPECT_THAT(table.Lookup(Ip("255.255.255.255")),
              Optional(Eq(OwnerInfo{Net("255.255.255.0/24"), 5, "", "ZZ", false})));
  EXPECT_THAT(table.Lookup(Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
              Optional(Eq(OwnerInfo{Net("ffff::/16"), 8, "", "", false})));
  EXPECT_THAT(table.Lookup(Ip("2001:db8:1:2::1")),
              Optional(Eq(OwnerInfo{Net("2001:db8:1::/48"), 7, "Seven", "BE", false})));
  EXPECT_THAT(table.Lookup(Ip("2001:db8:2::1")),
              Optional(Eq(OwnerInfo{Net("2001:db8::/32"), 6, "", "NL", false})));
}

TEST(OwnerRangeTableTest, GapsAreNotFound) {
  OwnerRangeTable table = Nested();
  EXPECT_EQ(table.Lookup(Ip("0.0.0.0")), std::nullopt);
  EXPECT_EQ(table.Lookup(Ip("9.255.255.255")), std::nullopt);
  EXPECT_EQ(table.Lookup(Ip("11.0.0.0")), std::nullopt);
  EXPECT_EQ(table.Lookup(Ip("::")), std::nullopt);
  EXPECT_EQ(table.Lookup(Ip("2001:db9::")), std::nullopt);
  EXPECT_EQ(OwnerRangeTable().Lookup(Ip("1.2.3.4")), std::nullopt);
}

TEST(OwnerRangeTableTest, V4MappedRawAddressIsLookedUpAsV4) {
  OwnerRangeTable table = Nested();
  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 200};
  EXPECT_THAT(table.Lookup(IpAddress::FromV6(mapped)),
              Optional(Eq(OwnerInfo{Net("10.1.2.128/25"), 4, "", "", false})));
}

TEST(OwnerRangeTableTest, LastOfDuplicateNetworksWins) {
  OwnerRangeTable::Builder builder;
  builder.AddNetwork(Net("192.0.2.0/24"), 1, "US", false);
  builder.AddNetwork(Net("192.0.2.0/24"), 2, "CA", false);
  OwnerRangeTable table = std::move(builder).Build();
  EXPECT_EQ(table.network_count(), 1u);
  EXPECT_EQ(table.Lookup(Ip("192.0.2.1"))->asn, 2u);
}

// Exhaustive check against a brute-force longest-prefix match over a small
// address region with random nested networks.
TEST(OwnerRangeTableTest, MatchesBruteForce) {
  std::vector<IpNetwork> networks;
  uint32_t seed = 7;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
  OwnerRangeTable::Builder builder;
  for (int i = 0; i < 300; ++i) {
    int length = 20 + static_cast<int>(next() % 13);          // /20../32
    uint32_t base = 0xC6120000u | ((next() >> 8) & 0x3fffu);  // 198.18.0.0/18
    uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
    IpNetwork network = *IpNetwork::Create(IpAddress::FromV4(base & mask), length);
    networks.push_back(network);
    builder.AddNetwork(network, static_cast<uint32_t>(networks.size()), "", false);
  }
  OwnerRangeTable table = std::move(builder).Build();
  for (uint32_t a = 0xC611FF00u; a < 0xC6124100u; ++a) {
    IpAddress ip = IpAddress::FromV4(a);
    std::optional<uint32_t> want;
    int best = -1;
    for (size_t i = 0; i < networks.size(); ++i) {
      // Later duplicates win, as in the table.
      if (networks[i].Contains(ip) && networks[i].prefix_length() >= best) {
        best = networks[i].prefix_length();
        want = static_cast<uint32_t>(i + 1);
      }
    }
    std::optional<OwnerInfo> got = table.Lookup(ip);
    ASSERT_EQ(got.has_value(), want.has_value()) << ip;
    if (want) {
      ASSERT_EQ(got->asn, *want) << ip;
    }
  }
}

}  // namespace
}  // namespace egress
