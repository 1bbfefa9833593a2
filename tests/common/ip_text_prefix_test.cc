#include "common/ip_text_prefix.h"

#include <random>
#include <string>

#include "absl/strings/match.h"
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

std::string Ranges(absl::string_view prefix) {
  std::optional<std::vector<IpRange>> ranges = TextPrefixV4Ranges(prefix);
  if (!ranges.has_value()) return "none";
  std::string text;
  for (const IpRange& range : *ranges) {
    if (!text.empty()) text += " ";
    text += range.first.ToString() + "-" + range.last.ToString();
  }
  return text;
}

TEST(TextPrefixV4RangesTest, ExactRanges) {
  EXPECT_EQ(Ranges("10.0.1"), "10.0.1.0-10.0.1.255 10.0.10.0-10.0.19.255 10.0.100.0-10.0.199.255");
  EXPECT_EQ(Ranges("10.0.1."), "10.0.1.0-10.0.1.255");
  EXPECT_EQ(Ranges("10.0.2"), "10.0.2.0-10.0.2.255 10.0.20.0-10.0.29.255 10.0.200.0-10.0.255.255");
  EXPECT_EQ(Ranges("10.0.25"), "10.0.25.0-10.0.25.255 10.0.250.0-10.0.255.255");
  EXPECT_EQ(Ranges("10.0.26"), "10.0.26.0-10.0.26.255");
  EXPECT_EQ(Ranges("10.0.0"), "10.0.0.0-10.0.0.255");
  EXPECT_EQ(Ranges("192.168.7.1"),
            "192.168.7.1-192.168.7.1 192.168.7.10-192.168.7.19 "
            "192.168.7.100-192.168.7.199");
  EXPECT_EQ(Ranges("192.168.7.42"), "192.168.7.42-192.168.7.42");
  EXPECT_EQ(Ranges("203."), "203.0.0.0-203.255.255.255");
  EXPECT_EQ(Ranges("1."), "1.0.0.0-1.255.255.255");
}

TEST(TextPrefixV4RangesTest, EmptyWhenNothingMatchesNoneWhenNotIpv4Text) {
  for (absl::string_view prefix : {"300.", "1.2.3.4.", "1.2.3.4.5", "01.", "10.01.", "1..2"}) {
    ASSERT_TRUE(TextPrefixV4Ranges(prefix).has_value()) << prefix;
    EXPECT_TRUE(TextPrefixV4Ranges(prefix)->empty()) << prefix;
  }
  for (absl::string_view prefix : {"", "10", "2001:db8:", "::ffff:1.2", "1a.2"}) {
    EXPECT_FALSE(TextPrefixV4Ranges(prefix).has_value()) << prefix;
  }
}

// An address is inside the ranges exactly when its text starts with the
// prefix: every prefix of random addresses' texts, against random addresses.
TEST(TextPrefixV4RangesTest, InsideExactlyWhenTheTextStartsWithThePrefix) {
  std::mt19937_64 random(20261207);
  auto random_address = [&] {
    uint32_t v4 = 0;
    for (int o = 0; o < 4; ++o) {
      const uint32_t octet = (random() % 3 == 0)   ? random() % 10
                             : (random() % 2 == 0) ? random() % 100
                                                   : random() % 256;
      v4 = v4 << 8 | octet;
    }
    return IpAddress::FromV4(v4);
  };
  int matched = 0, unmatched = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string text = random_address().ToString();
    for (size_t length = 2; length <= text.size(); ++length) {
      const std::string prefix = text.substr(0, length);
      std::optional<std::vector<IpRange>> ranges = TextPrefixV4Ranges(prefix);
      if (!ranges.has_value()) continue;  // no dot yet
      for (int j = 0; j < 40; ++j) {
        IpAddress other = j == 0 ? *IpAddress::Parse(text) : random_address();
        if (j > 0 && j % 2 == 0) {
          // Near the prefix too: same leading octets.
          other = IpAddress::FromV4((other.v4() & 0x0000ffff) |
                                    (IpAddress::Parse(text)->v4() & 0xffff0000));
        }
        const bool starts = absl::StartsWith(other.ToString(), prefix);
        bool inside = false;
        for (const IpRange& range : *ranges) {
          inside = inside || (range.first <= other && other <= range.last);
        }
        EXPECT_EQ(inside, starts) << prefix << " vs " << other.ToString();
        ++(starts ? matched : unmatched);
      }
    }
  }
  EXPECT_GT(matched, 5000);
  EXPECT_GT(unmatched, 5000);
}

}  // namespace
}  // namespace egress
