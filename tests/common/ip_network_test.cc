#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash_testing.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "common/ip_address.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

IpAddress Addr(absl::string_view text) {
  absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
  EXPECT_THAT(address, IsOk()) << text;
  return address.ok() ? *address : IpAddress();
}

IpNetwork Net(absl::string_view text) {
  absl::StatusOr<IpNetwork> network = IpNetwork::Parse(text);
  EXPECT_THAT(network, IsOk()) << text;
  return network.ok() ? *network : IpNetwork::Host(IpAddress());
}

TEST(IpNetworkTest, ParsesCidr) {
  ASSERT_OK_AND_ASSIGN(IpNetwork network, IpNetwork::Parse("10.0.0.0/8"));
  EXPECT_EQ(network.address(), Addr("10.0.0.0"));
  EXPECT_EQ(network.prefix_length(), 8);
  EXPECT_FALSE(network.is_host());
  EXPECT_EQ(network.ToString(), "10.0.0.0/8");

  ASSERT_OK_AND_ASSIGN(IpNetwork v6, IpNetwork::Parse("2001:DB8:0::/32"));
  EXPECT_EQ(v6.address(), Addr("2001:db8::"));
  EXPECT_EQ(v6.prefix_length(), 32);
  EXPECT_EQ(v6.ToString(), "2001:db8::/32");
}

TEST(IpNetworkTest, BareAddressIsHostNetwork) {
  ASSERT_OK_AND_ASSIGN(IpNetwork v4, IpNetwork::Parse("1.2.3.4"));
  EXPECT_TRUE(v4.is_host());
  EXPECT_EQ(v4.prefix_length(), 32);
  EXPECT_EQ(v4.ToString(), "1.2.3.4/32");
  EXPECT_EQ(v4, Net("1.2.3.4/32"));
  ASSERT_OK_AND_ASSIGN(IpNetwork v6, IpNetwork::Parse("::1"));
  EXPECT_TRUE(v6.is_host());
  EXPECT_EQ(v6.prefix_length(), 128);
  EXPECT_EQ(v6.ToString(), "::1/128");
  EXPECT_EQ(IpNetwork::Host(Addr("2001:db8::1")), Net("2001:db8::1/128"));
}

TEST(IpNetworkTest, ParsesPrefixExtremes) {
  EXPECT_EQ(Net("0.0.0.0/0").prefix_length(), 0);
  EXPECT_EQ(Net("255.255.255.255/32").prefix_length(), 32);
  EXPECT_EQ(Net("::/0").prefix_length(), 0);
  EXPECT_EQ(Net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128").prefix_length(), 128);
  EXPECT_EQ(Net("128.0.0.0/1").ToString(), "128.0.0.0/1");
  EXPECT_EQ(Net("8000::/1").ToString(), "8000::/1");
}

TEST(IpNetworkTest, RejectsBadPrefixLengths) {
  const std::pair<const char*, const char*> cases[] = {
      {"1.2.3.4/33", "out of range for IPv4 (0..32)"},
      {"0.0.0.0/99", "out of range for IPv4"},
      {"::/129", "out of range for IPv6 (0..128)"},
      {"1.2.3.0/-1", "decimal number without sign"},
      {"1.2.3.0/+24", "decimal number without sign"},
      {"1.2.3.0/024", "leading zero"},
      {"1.2.3.0/00", "leading zero"},
      {"::/0128", "leading zero"},
      {"1.2.3.0/", "empty"},
      {"1.2.3.0/2a", "decimal number"},
      {"1.2.3.0/0x18", "decimal number"},
      {"1.2.3.0/24.0", "decimal number"},
      {"1.2.3.0/1000", "greater than 128"},
      {"1.2.3.0/99999999999999999999", "greater than 128"},
      {"1.2.3.0/24/24", "more than one '/'"},
      {"1.2.3.0//24", "more than one '/'"},
      {"/24", "empty"},
      {"/", "empty"},
      {"", "empty"},
  };
  for (const auto& [text, reason] : cases) {
    EXPECT_THAT(IpNetwork::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(reason)))
        << text;
  }
}

TEST(IpNetworkTest, RejectsHostBitsAndSuggestsNetwork) {
  EXPECT_THAT(IpNetwork::Parse("10.0.0.1/8"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"10.0.0.1/8\""), HasSubstr("host bits"),
                             HasSubstr("10.0.0.0/8"))));
  EXPECT_THAT(IpNetwork::Parse("192.168.1.255/31"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("192.168.1.254/31")));
  // A suggestion is never a catch-all network: the address alone instead.
  for (const char* text : {"0.0.0.1/0", "10.1.2.3/1", "::ffff:10.1.2.3/96", "2001:db8::1/3"}) {
    const absl::StatusOr<IpNetwork> parsed = IpNetwork::Parse(text);
    EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("for the one "
                                                                               "address use")))
        << text;
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr("0.0.0.0/0"))) << text;
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr(" ::/"))) << text;
    EXPECT_THAT(parsed.status().message(), Not(HasSubstr("did you mean"))) << text;
  }
  EXPECT_THAT(IpNetwork::Parse("::ffff:10.1.2.3/96"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("10.1.2.3/32")));
  // The narrowest catch-alls refused as suggestions, the widest private
  // ranges allowed.
  EXPECT_TRUE(IpNetwork::Parse("0.0.0.0/7")->is_catch_all());
  EXPECT_FALSE(IpNetwork::Parse("10.0.0.0/8")->is_catch_all());
  EXPECT_TRUE(IpNetwork::Parse("::/6")->is_catch_all());
  EXPECT_FALSE(IpNetwork::Parse("fc00::/7")->is_catch_all());
  EXPECT_THAT(IpNetwork::Parse("2001:db8::1/64"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2001:db8::/64")));
  EXPECT_THAT(IpNetwork::Parse("::1/127"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("::/127")));
}

TEST(IpNetworkTest, RejectsHostileText) {
  for (const std::string& text :
       {std::string(" 1.2.3.0/24"), std::string("1.2.3.0/24 "), std::string("1.2.3.0 /24"),
        std::string("1.2.3.0/ 24"), std::string("1.2.3.0/24\n"), std::string("\t::/0"),
        std::string("1.2.3.0/24\0", 11), std::string("1.2.3.0\0/24", 11),
        std::string("fe80::%eth0/64"), std::string("fe80::/64%eth0"), std::string("[::]/0"),
        std::string("1.2.3/24"), std::string("01.2.3.0/24"), std::string("1.2.3.0/24;"),
        std::string(10 * 1024, '1'), std::string(69, '1'), std::string("\xff/8")}) {
    EXPECT_THAT(IpNetwork::Parse(text), StatusIs(absl::StatusCode::kInvalidArgument))
        << absl::CHexEscape(text);
  }
  EXPECT_THAT(IpNetwork::Parse("fe80::/64%eth0"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("zone ids are not allowed")));
  EXPECT_THAT(IpNetwork::Parse(std::string("1.2.3.0/24\0", 11)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(IpNetwork::Parse("1.2.3.0/ 24"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("whitespace")));
  const absl::Status too_long = IpNetwork::Parse(std::string(10 * 1024, '1')).status();
  EXPECT_THAT(too_long, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too long")));
  EXPECT_LT(too_long.message().size(), 200u);
}

TEST(IpNetworkTest, LongestValidTextIsAccepted) {
  const std::string longest = "0000:0000:0000:0000:0000:ffff:255.255.255.255/128";
  ASSERT_OK_AND_ASSIGN(IpNetwork network, IpNetwork::Parse(longest));
  EXPECT_EQ(network.ToString(), "255.255.255.255/32");
}

TEST(IpNetworkTest, AddressErrorsAreReportedForTheWholeInput) {
  EXPECT_THAT(IpNetwork::Parse("256.0.0.0/8"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"256.0.0.0/8\""), HasSubstr("not a valid network"),
                             HasSubstr("greater than 255"))));
}

TEST(IpNetworkTest, NormalisesMappedNetworks) {
  const std::pair<const char*, const char*> cases[] = {
      {"::ffff:1.2.3.0/120", "1.2.3.0/24"},
      {"::ffff:1.2.3.4/128", "1.2.3.4/32"},
      {"::ffff:1.2.3.4", "1.2.3.4/32"},
      {"::ffff:0.0.0.0/96", "0.0.0.0/0"},
      {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
      // Below /96 the block holds non-mapped addresses too: stays IPv6.
      {"::fffe:0:0/95", "::fffe:0:0/95"},
      {"::/80", "::/80"},
      {"::/64", "::/64"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<IpNetwork> network = IpNetwork::Parse(text);
    ASSERT_THAT(network, IsOk()) << text;
    EXPECT_EQ(network->ToString(), expected) << text;
  }
  EXPECT_TRUE(Net("::ffff:1.2.3.0/120").address().is_v4());
  EXPECT_TRUE(Net("::/80").address().is_v6());
  EXPECT_TRUE(Net("::/80").Contains(
      IpAddress::FromV6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4})));
  // ::ffff:0:0/95 has a host bit set; the suggestion is the real block.
  EXPECT_THAT(IpNetwork::Parse("::ffff:0:0/95"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("::fffe:0:0/95")));
  EXPECT_THAT(IpNetwork::Parse("::ffff:1.2.3.4/120"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1.2.3.0/24")));
}

TEST(IpNetworkTest, CreateValidatesAndNormalises) {
  ASSERT_OK_AND_ASSIGN(IpNetwork network, IpNetwork::Create(Addr("172.16.0.0"), 12));
  EXPECT_EQ(network, Net("172.16.0.0/12"));
  EXPECT_THAT(IpNetwork::Create(Addr("172.16.0.1"), 12),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("172.16.0.0/12")));
  for (int bad : {-1, 33, 128, -2147483647 - 1, 2147483647}) {
    EXPECT_THAT(IpNetwork::Create(Addr("0.0.0.0"), bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")))
        << bad;
  }
  EXPECT_THAT(IpNetwork::Create(Addr("::"), 129),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..128")));
  EXPECT_THAT(IpNetwork::Create(Addr("::"), 128), IsOk());
  const IpAddress raw_mapped =
      IpAddress::FromV6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 0});
  ASSERT_OK_AND_ASSIGN(IpNetwork mapped, IpNetwork::Create(raw_mapped, 112));
  EXPECT_EQ(mapped, Net("192.168.0.0/16"));
  EXPECT_EQ(IpNetwork::Host(raw_mapped), Net("192.168.0.0/32"));
}

TEST(IpNetworkTest, ContainsAddressV4Edges) {
  const IpNetwork everything = Net("0.0.0.0/0");
  EXPECT_TRUE(everything.Contains(Addr("0.0.0.0")));
  EXPECT_TRUE(everything.Contains(Addr("255.255.255.255")));
  EXPECT_FALSE(everything.Contains(Addr("::")));
  EXPECT_FALSE(everything.Contains(Addr("::1.2.3.4")));

  const IpNetwork host = Net("10.1.2.3/32");
  EXPECT_TRUE(host.Contains(Addr("10.1.2.3")));
  EXPECT_FALSE(host.Contains(Addr("10.1.2.2")));
  EXPECT_FALSE(host.Contains(Addr("10.1.2.4")));

  const IpNetwork block = Net("192.168.4.0/22");
  EXPECT_FALSE(block.Contains(Addr("192.168.3.255")));
  EXPECT_TRUE(block.Contains(Addr("192.168.4.0")));
  EXPECT_TRUE(block.Contains(Addr("192.168.7.255")));
  EXPECT_FALSE(block.Contains(Addr("192.168.8.0")));

  const IpNetwork odd = Net("10.0.0.0/9");
  EXPECT_TRUE(odd.Contains(Addr("10.127.255.255")));
  EXPECT_FALSE(odd.Contains(Addr("10.128.0.0")));
}

TEST(IpNetworkTest, ContainsAddressV6Edges) {
  const IpNetwork everything = Net("::/0");
  EXPECT_TRUE(everything.Contains(Addr("::")));
  EXPECT_TRUE(everything.Contains(Addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(everything.Contains(Addr("1.2.3.4")));
  // Parse normalises mapped text to IPv4, which an IPv6 block never holds.
  EXPECT_FALSE(everything.Contains(Addr("::ffff:1.2.3.4")));

  const IpNetwork host = Net("2001:db8::1/128");
  EXPECT_TRUE(host.Contains(Addr("2001:db8::1")));
  EXPECT_FALSE(host.Contains(Addr("2001:db8::")));
  EXPECT_FALSE(host.Contains(Addr("2001:db8::2")));

  const IpNetwork block = Net("2001:db8:abcd:12::/63");
  EXPECT_TRUE(block.Contains(Addr("2001:db8:abcd:12::")));
  EXPECT_TRUE(block.Contains(Addr("2001:db8:abcd:13:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(block.Contains(Addr("2001:db8:abcd:11:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(block.Contains(Addr("2001:db8:abcd:14::")));

  const IpNetwork top_bit = Net("8000::/1");
  EXPECT_TRUE(top_bit.Contains(Addr("8000::")));
  EXPECT_FALSE(top_bit.Contains(Addr("7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
}

TEST(IpNetworkTest, ContainsNetwork) {
  const IpNetwork ten = Net("10.0.0.0/8");
  EXPECT_TRUE(ten.Contains(ten));
  EXPECT_TRUE(ten.Contains(Net("10.20.0.0/16")));
  EXPECT_TRUE(ten.Contains(Net("10.255.255.255/32")));
  EXPECT_FALSE(ten.Contains(Net("10.0.0.0/7")));
  EXPECT_FALSE(ten.Contains(Net("11.0.0.0/16")));
  EXPECT_FALSE(Net("10.20.0.0/16").Contains(ten));
  EXPECT_TRUE(Net("0.0.0.0/0").Contains(Net("0.0.0.0/0")));
  EXPECT_FALSE(Net("0.0.0.0/0").Contains(Net("::/0")));
  EXPECT_FALSE(Net("::/0").Contains(Net("0.0.0.0/0")));
  EXPECT_TRUE(Net("::/0").Contains(Net("2001:db8::/32")));
  EXPECT_TRUE(Net("2001:db8::/32").Contains(Net("2001:db8:ffff::/48")));
  EXPECT_FALSE(Net("2001:db8::/32").Contains(Net("2001:db9::/48")));
}

TEST(IpNetworkTest, LastAddress) {
  EXPECT_EQ(Net("10.0.0.0/8").LastAddress(), Addr("10.255.255.255"));
  EXPECT_EQ(Net("192.168.1.0/24").LastAddress(), Addr("192.168.1.255"));
  EXPECT_EQ(Net("192.168.1.128/25").LastAddress(), Addr("192.168.1.255"));
  EXPECT_EQ(Net("172.16.0.0/12").LastAddress(), Addr("172.31.255.255"));
  EXPECT_EQ(Net("0.0.0.0/0").LastAddress(), Addr("255.255.255.255"));
  EXPECT_EQ(Net("1.2.3.4/32").LastAddress(), Addr("1.2.3.4"));
  EXPECT_EQ(Net("::/0").LastAddress(), Addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(Net("2001:db8::/33").LastAddress(), Addr("2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(Net("::1/128").LastAddress(), Addr("::1"));
  for (const char* text : {"10.0.0.0/8", "192.168.1.128/25", "2001:db8::/33", "::/0"}) {
    const IpNetwork network = Net(text);
    EXPECT_TRUE(network.Contains(network.LastAddress())) << text;
  }
}

TEST(IpNetworkTest, ToStringRoundTrips) {
  for (const char* text : {"0.0.0.0/0", "10.0.0.0/8", "1.2.3.4/32", "::/0", "2001:db8::/32",
                           "fe80::/10", "::1/128", "::/96"}) {
    const IpNetwork network = Net(text);
    EXPECT_EQ(network.ToString(), text);
    EXPECT_EQ(Net(network.ToString()), network) << text;
  }
  std::ostringstream out;
  out << Net("2001:DB8::/32");
  EXPECT_EQ(out.str(), "2001:db8::/32");
}

TEST(IpNetworkTest, OrderingAndHashing) {
  const std::vector<IpNetwork> sorted = {
      Net("0.0.0.0/0"),  Net("10.0.0.0/8"), Net("10.0.0.0/16"), Net("10.0.0.1/32"),
      Net("11.0.0.0/8"), Net("::/0"),       Net("::/128"),      Net("2001:db8::/32")};
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (size_t j = 0; j < sorted.size(); ++j) {
      EXPECT_EQ(sorted[i] < sorted[j], i < j) << sorted[i] << " vs " << sorted[j];
      EXPECT_EQ(sorted[i] == sorted[j], i == j) << sorted[i] << " vs " << sorted[j];
    }
  }
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly(
      {Net("0.0.0.0/0"), Net("0.0.0.0/32"), Net("::/0"), Net("::/128"), Net("10.0.0.0/8")}));
  absl::flat_hash_set<IpNetwork> set = {Net("10.0.0.0/8"), Net("::ffff:10.0.0.0/104"),
                                        Net("1.2.3.4"), Net("1.2.3.4/32"), Net("::/0")};
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.contains(Net("::ffff:1.2.3.4/128")));
  EXPECT_FALSE(set.contains(Net("10.0.0.0/9")));
}

}  // namespace
}  // namespace egress
