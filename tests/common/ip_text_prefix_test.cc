#include "common/ip_text_prefix.h"

#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress {
namespace {

IpAddress Addr(absl::string_view text) {
  absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
  EXPECT_TRUE(address.ok()) << text;
  return address.ok() ? *address : IpAddress();
}

void ExpectHull(absl::string_view prefix, absl::string_view first, absl::string_view last) {
  std::optional<IpRange> hull = TextPrefixHull(prefix);
  ASSERT_TRUE(hull.has_value()) << prefix;
  EXPECT_EQ(hull->first, Addr(first)) << prefix;
  EXPECT_EQ(hull->last, Addr(last)) << prefix;
}

TEST(TextPrefixHullTest, Ipv4) {
  ExpectHull("10.0.1", "10.0.1.0", "10.0.199.255");
  ExpectHull("10.0.1.", "10.0.1.0", "10.0.1.255");
  ExpectHull("10.0.2", "10.0.2.0", "10.0.255.255");
  ExpectHull("10.0.26", "10.0.26.0", "10.0.26.255");
  ExpectHull("10.0.25", "10.0.25.0", "10.0.255.255");
  ExpectHull("10.0.0", "10.0.0.0", "10.0.0.255");
  ExpectHull("192.168.7.1", "192.168.7.1", "192.168.7.199");
  ExpectHull("192.168.7.42", "192.168.7.42", "192.168.7.42");
  ExpectHull("203.", "203.0.0.0", "203.255.255.255");
}

TEST(TextPrefixHullTest, Ipv6) {
  ExpectHull("2001:db8:", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
  ExpectHull("2001:db8", "2001:db8::", "2001:db8f:ffff:ffff:ffff:ffff:ffff:ffff");
  ExpectHull("2001:db8::1", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
  ExpectHull("fe80", "fe80::", "fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  ExpectHull("2001:0:", "2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff");
}

TEST(TextPrefixHullTest, DigitsOnlyCoverBothFamilies) {
  ExpectHull("1", "1.0.0.0", "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  ExpectHull("300", "300::", "300f:ffff:ffff:ffff:ffff:ffff:ffff:ffff");  // no IPv4 octet 300
}

TEST(TextPrefixHullTest, NoBoundWhenNothingCanMatchOrItIsNotWorthIt) {
  for (absl::string_view prefix :
       {"", "::", "::1", ":", "300.", "1.2.3.4.", "1.2.3.4.5", "01.", "10.01.",
        "2001:0db8:", "::ffff:1.2", "1:2:3:4:5:6:7:8:", "12345:", "1.2:3", "1x"}) {
    EXPECT_FALSE(TextPrefixHull(prefix).has_value()) << prefix;
  }
}

// Every address lies inside the hull of every prefix of its own text.
TEST(TextPrefixHullTest, HoldsEveryAddressWhoseTextStartsWithThePrefix) {
  std::mt19937_64 random(20261127);
  int checked = 0;
  for (int i = 0; i < 4000; ++i) {
    IpAddress address;
    if (i % 2 == 0) {
      // Small octets too, so 0 and one- and two-digit octets occur.
      uint32_t v4 = 0;
      for (int o = 0; o < 4; ++o) {
        const uint32_t octet = (random() % 3 == 0) ? random() % 10 : random() % 256;
        v4 = v4 << 8 | octet;
      }
      address = IpAddress::FromV4(v4);
    } else {
      std::array<uint8_t, 16> bytes{};
      for (int g = 0; g < 8; ++g) {
        const uint64_t kind = random() % 4;
        const uint16_t group = kind == 0 ? 0 : kind == 1 ? random() % 16 : random() % 65536;
        bytes[2 * g] = group >> 8;
        bytes[2 * g + 1] = group & 0xff;
      }
      address = IpAddress::FromV6(bytes);
    }
    const std::string text = address.ToString();
    for (size_t length = 1; length <= text.size(); ++length) {
      const std::string prefix = text.substr(0, length);
      std::optional<IpRange> hull = TextPrefixHull(prefix);
      if (!hull.has_value()) continue;
      ++checked;
      EXPECT_LE(hull->first, address) << prefix << " of " << text;
      EXPECT_GE(hull->last, address) << prefix << " of " << text;
    }
  }
  EXPECT_GT(checked, 20000);
}

}  // namespace
}  // namespace egress
