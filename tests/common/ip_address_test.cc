#include "common/ip_address.h"

#include <array>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash_testing.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using Bytes = std::array<uint8_t, 16>;

IpAddress MustParse(absl::string_view text) {
  absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
  EXPECT_THAT(address, IsOk()) << text;
  return address.ok() ? *address : IpAddress();
}

// An independent, slow RFC 5952 formatter to check ToString against.
std::string ReferenceRfc5952(const Bytes& bytes) {
  int groups[8];
  for (int i = 0; i < 8; ++i) {
    groups[i] = bytes[static_cast<size_t>(2 * i)] * 256 + bytes[static_cast<size_t>(2 * i + 1)];
  }
  if (groups[0] == 0 && groups[1] == 0 && groups[2] == 0 && groups[3] == 0 && groups[4] == 0 &&
      groups[5] == 0xffff) {
    return absl::StrFormat("::ffff:%d.%d.%d.%d", bytes[12], bytes[13], bytes[14], bytes[15]);
  }
  int best_start = -1;
  int best_length = 1;  // Runs of one group are never compressed.
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_length) {
      best_start = i;
      best_length = j - i;
    }
    i = j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_length - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ":";
    out += absl::StrFormat("%x", groups[i]);
  }
  return out;
}

// --- IPv4 -----------------------------------------------------------------

TEST(IpAddressTest, DefaultIsV4Unspecified) {
  IpAddress address;
  EXPECT_TRUE(address.is_v4());
  EXPECT_EQ(address.v4(), 0u);
  EXPECT_EQ(address.ToString(), "0.0.0.0");
  EXPECT_TRUE(address.IsUnspecified());
}

TEST(IpAddressTest, ParsesDottedQuad) {
  ASSERT_OK_AND_ASSIGN(IpAddress address, IpAddress::Parse("192.168.1.20"));
  EXPECT_TRUE(address.is_v4());
  EXPECT_FALSE(address.is_v6());
  EXPECT_EQ(address.family(), IpAddress::Family::kV4);
  EXPECT_EQ(address.v4(), 0xC0A80114u);
  EXPECT_THAT(address.bytes(), ElementsAre(192, 168, 1, 20));
  EXPECT_EQ(address.bit_length(), 32);
  EXPECT_EQ(address.ToString(), "192.168.1.20");
}

TEST(IpAddressTest, ParsesV4Extremes) {
  EXPECT_EQ(MustParse("0.0.0.0").v4(), 0u);
  EXPECT_EQ(MustParse("255.255.255.255").v4(), 0xFFFFFFFFu);
  EXPECT_EQ(MustParse("1.0.0.0").v4(), 0x01000000u);
  EXPECT_EQ(MustParse("0.0.0.1").v4(), 1u);
}

TEST(IpAddressTest, RejectsMalformedV4) {
  for (const char* text :
       {"1.2.3",      "1.2.3.4.5",  "256.1.1.1",  "1.256.1.1",     "1.2.3.256", "1.2.3.-1",
        "0x7f.0.0.1", "1.2.3.0x1",  "1..2.3",     ".1.2.3",        "1.2.3.",    "1.2.3.4.",
        "127.1",      "2130706433", "1000.1.1.1", "1.2.3.a",       "a.b.c.d",   "1,2,3,4",
        "1.2.3.4:80", "+1.2.3.4",   "1.2.3.+4",   "\xc2\xb9.2.3.4"}) {
    EXPECT_THAT(IpAddress::Parse(text), StatusIs(absl::StatusCode::kInvalidArgument)) << text;
  }
}

TEST(IpAddressTest, RejectsOctalLookingV4WithReason) {
  for (const char* text : {"01.2.3.4", "1.02.3.4", "1.2.3.04", "00.0.0.0", "1.2.3.000"}) {
    EXPECT_THAT(IpAddress::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leading zero")))
        << text;
  }
}

TEST(IpAddressTest, V4ErrorMessagesSayWhatIsWrong) {
  EXPECT_THAT(
      IpAddress::Parse("1.2.3"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("\"1.2.3\""), HasSubstr("exactly 4"), HasSubstr("found 3"))));
  EXPECT_THAT(IpAddress::Parse("256.1.1.1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("greater than 255")));
  EXPECT_THAT(IpAddress::Parse("0x7f.0.0.1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hex is not allowed")));
}

// --- IPv6 -----------------------------------------------------------------

TEST(IpAddressTest, ParsesV6Forms) {
  const Bytes expected = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  for (const char* text :
       {"2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:0:0:0:1",
        "2001:DB8::1", "2001:Db8:0::0:1", "2001:db8::0:0:0:1"}) {
    ASSERT_OK_AND_ASSIGN(IpAddress address, IpAddress::Parse(text));
    EXPECT_TRUE(address.is_v6()) << text;
    EXPECT_EQ(address.v6_bytes(), expected) << text;
    EXPECT_EQ(address.ToString(), "2001:db8::1") << text;
  }
}

TEST(IpAddressTest, ParsesSpecialV6) {
  ASSERT_OK_AND_ASSIGN(IpAddress any, IpAddress::Parse("::"));
  EXPECT_TRUE(any.is_v6());
  EXPECT_TRUE(any.IsUnspecified());
  EXPECT_EQ(any.bit_length(), 128);
  EXPECT_EQ(any.bytes().size(), 16u);
  ASSERT_OK_AND_ASSIGN(IpAddress loopback, IpAddress::Parse("::1"));
  EXPECT_TRUE(loopback.IsLoopback());
  EXPECT_FALSE(loopback.IsUnspecified());
  EXPECT_EQ(MustParse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").ToString(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  EXPECT_EQ(MustParse("1:2:3:4:5:6:7::").ToString(), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(MustParse("::2:3:4:5:6:7:8").ToString(), "0:2:3:4:5:6:7:8");
}

TEST(IpAddressTest, ParsesMixedNotation) {
  // IPv4-compatible (deprecated) stays IPv6: only ::ffff:0:0/96 is mapped.
  ASSERT_OK_AND_ASSIGN(IpAddress compatible, IpAddress::Parse("::1.2.3.4"));
  EXPECT_TRUE(compatible.is_v6());
  EXPECT_EQ(compatible.ToString(), "::102:304");
  ASSERT_OK_AND_ASSIGN(IpAddress nat64, IpAddress::Parse("64:ff9b::192.0.2.33"));
  EXPECT_TRUE(nat64.is_v6());
  EXPECT_EQ(nat64.ToString(), "64:ff9b::c000:221");
  EXPECT_EQ(MustParse("1:2:3:4:5:6:1.2.3.4").ToString(), "1:2:3:4:5:6:102:304");
}

TEST(IpAddressTest, NormalisesV4MappedToV4) {
  for (const char* text : {"::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::ffff:102:304",
                           "0:0:0:0:0:ffff:1.2.3.4", "0000:0000:0000:0000:0000:ffff:0102:0304"}) {
    ASSERT_OK_AND_ASSIGN(IpAddress address, IpAddress::Parse(text));
    EXPECT_TRUE(address.is_v4()) << text;
    EXPECT_EQ(address, MustParse("1.2.3.4")) << text;
    EXPECT_EQ(address.ToString(), "1.2.3.4") << text;
  }
  EXPECT_TRUE(MustParse("::ffff:0.0.0.0").IsUnspecified());
  EXPECT_TRUE(MustParse("::ffff:0.0.0.0").is_v4());
  EXPECT_TRUE(MustParse("::ffff:127.0.0.1").IsLoopback());
}

TEST(IpAddressTest, NearMappedPrefixesStayV6) {
  EXPECT_TRUE(MustParse("::fffe:1.2.3.4").is_v6());
  EXPECT_TRUE(MustParse("1::ffff:1.2.3.4").is_v6());
  EXPECT_TRUE(MustParse("::ffff:0:1.2.3.4").is_v6());  // IPv4-translated, not mapped
}

TEST(IpAddressTest, RejectsMalformedV6) {
  for (const char* text : {":::",
                           "1::2::3",
                           "::1::",
                           "1:2:3:4:5:6:7:8:9",
                           "1:2:3:4:5:6:7",
                           "1:2:3:4::5:6:7:8",
                           "12345::1",
                           "00000::1",
                           "1:",
                           ":1",
                           "1::2:",
                           ":1::2",
                           "g::1",
                           "::g",
                           "1:2:3:4:5:6:7:1.2.3.4",
                           "::1.2.3",
                           "::1.2.3.4.5",
                           "::01.2.3.4",
                           "::256.1.1.1",
                           "::1.2.3.4:5",
                           "::ffff:1.2.3.4:1",
                           "1.2.3.4::",
                           "2001:db8::1::",
                           "::-1",
                           "::+1",
                           "::0x1",
                           "fe80:::1"}) {
    EXPECT_THAT(IpAddress::Parse(text), StatusIs(absl::StatusCode::kInvalidArgument)) << text;
  }
}

TEST(IpAddressTest, V6ErrorMessagesSayWhatIsWrong) {
  EXPECT_THAT(IpAddress::Parse(":::"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("':::'")));
  EXPECT_THAT(IpAddress::Parse("1::2::3"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only once")));
  EXPECT_THAT(IpAddress::Parse("1:2:3:4:5:6:7:8:9"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("up to 8 groups")));
  EXPECT_THAT(IpAddress::Parse("::g"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'g' at offset 2")));
}

// --- Hostile input ----------------------------------------------------------

TEST(IpAddressTest, RejectsEmpty) {
  EXPECT_THAT(IpAddress::Parse(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                             AllOf(HasSubstr("\"\""), HasSubstr("empty"))));
}

TEST(IpAddressTest, RejectsWhitespaceAnywhere) {
  for (const char* text : {" 1.2.3.4", "1.2.3.4 ", "1.2. 3.4", "\t1.2.3.4", "1.2.3.4\n",
                           "1.2.3.4\r\n", "::1 ", " ::1", ":: 1", "1.2.3.4\v", "\f::1", " "}) {
    EXPECT_THAT(IpAddress::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("whitespace")))
        << text;
  }
}

TEST(IpAddressTest, RejectsEmbeddedNul) {
  const std::string v4("1.2.3.4\0", 8);
  EXPECT_THAT(IpAddress::Parse(v4),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("NUL byte at offset 7"), HasSubstr("\\x00"))));
  const std::string v4_middle("1.2\0.3.4", 8);
  EXPECT_THAT(IpAddress::Parse(v4_middle),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  const std::string v6("::1\0garbage", 11);
  EXPECT_THAT(IpAddress::Parse(v6), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(IpAddress::Parse(std::string(1, '\0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
}

TEST(IpAddressTest, RejectsZoneIds) {
  for (const char* text : {"fe80::1%eth0", "fe80::1%1", "fe80::1%", "::1%lo", "1.2.3.4%eth0"}) {
    EXPECT_THAT(IpAddress::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("zone ids are not allowed")))
        << text;
  }
}

TEST(IpAddressTest, RejectsBracketsAndPrefixes) {
  for (const char* text : {"[::1]", "[::1]:80", "[1.2.3.4]"}) {
    EXPECT_THAT(IpAddress::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("brackets")))
        << text;
  }
  for (const char* text : {"1.2.3.0/24", "::/0", "1.2.3.4/32", "2001:db8::/32"}) {
    EXPECT_THAT(IpAddress::Parse(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prefix length")))
        << text;
  }
}

TEST(IpAddressTest, RejectsVeryLongInputWithoutEchoingIt) {
  const std::string huge(10 * 1024, '1');
  const absl::Status status = IpAddress::Parse(huge).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too long")));
  EXPECT_LT(status.message().size(), 200u);
  // 65 bytes that would otherwise be a valid address (leading zeros in groups
  // are legal in IPv6, but inet_pton caps each group at 4 digits).
  const std::string padded = "0000:0000:0000:0000:0000:0000:0000:0001" + std::string(26, ' ');
  EXPECT_THAT(IpAddress::Parse(padded), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(IpAddress::Parse(std::string(65, ':')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too long")));
}

TEST(IpAddressTest, RejectsNonAsciiAndControlBytes) {
  for (const std::string& text :
       {std::string("1.2.3.4\x7f"), std::string("::1\xff"), std::string("\xef\xbc\x91.2.3.4"),
        std::string("1.2.3.4\x1b[31m"), std::string("1.2.3.4;rm -rf /"), std::string("::1'")}) {
    EXPECT_THAT(IpAddress::Parse(text), StatusIs(absl::StatusCode::kInvalidArgument)) << text;
  }
}

TEST(IpAddressTest, ErrorMessagesEscapeInput) {
  const absl::Status status = IpAddress::Parse("1.2.3.4\n\"x").status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\\n\\\"x")));
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos);
}

// --- Construction and accessors ----------------------------------------------

TEST(IpAddressTest, FromV4UsesHostOrder) {
  const IpAddress address = IpAddress::FromV4(0x7F000001);
  EXPECT_EQ(address.ToString(), "127.0.0.1");
  EXPECT_THAT(address.bytes(), ElementsAre(127, 0, 0, 1));
  EXPECT_EQ(address.v4(), 0x7F000001u);
  EXPECT_EQ(address, MustParse("127.0.0.1"));
}

TEST(IpAddressTest, FromV6KeepsMappedRaw) {
  const Bytes mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
  const IpAddress raw = IpAddress::FromV6(mapped);
  EXPECT_TRUE(raw.is_v6());
  EXPECT_TRUE(raw.IsV4Mapped());
  EXPECT_EQ(raw.ToString(), "::ffff:1.2.3.4");
  EXPECT_NE(raw, MustParse("1.2.3.4"));
  EXPECT_EQ(raw.Unmapped(), MustParse("1.2.3.4"));
  EXPECT_FALSE(raw.Unmapped().IsV4Mapped());
  // Parsing the canonical text of a raw mapped value normalises it.
  EXPECT_EQ(MustParse(raw.ToString()), raw.Unmapped());
}

TEST(IpAddressTest, UnmappedLeavesOtherAddressesAlone) {
  for (const char* text : {"1.2.3.4", "::1", "::", "::fffe:1.2.3.4", "2001:db8::ffff:1.2.3.4"}) {
    const IpAddress address = MustParse(text);
    EXPECT_FALSE(address.IsV4Mapped()) << text;
    EXPECT_EQ(address.Unmapped(), address) << text;
  }
}

TEST(IpAddressTest, FromBytes) {
  const uint8_t v4[] = {10, 0, 0, 1};
  ASSERT_OK_AND_ASSIGN(IpAddress a, IpAddress::FromBytes(v4));
  EXPECT_EQ(a, MustParse("10.0.0.1"));
  const uint8_t v6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  ASSERT_OK_AND_ASSIGN(IpAddress b, IpAddress::FromBytes(v6));
  EXPECT_EQ(b, MustParse("2001:db8::2"));
  const uint8_t mapped[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
  ASSERT_OK_AND_ASSIGN(IpAddress c, IpAddress::FromBytes(mapped));
  EXPECT_TRUE(c.IsV4Mapped());
  for (size_t size : {0, 1, 3, 5, 15, 17, 32}) {
    const std::vector<uint8_t> bytes(size, 1);
    EXPECT_THAT(IpAddress::FromBytes(bytes),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(std::to_string(size))))
        << size;
  }
}

TEST(IpAddressTest, BytesRoundTrip) {
  for (const char* text : {"0.0.0.0", "8.8.4.4", "::", "2001:db8:85a3::8a2e:370:7334"}) {
    const IpAddress address = MustParse(text);
    ASSERT_OK_AND_ASSIGN(IpAddress copy, IpAddress::FromBytes(address.bytes()));
    EXPECT_EQ(copy, address) << text;
  }
}

TEST(IpAddressTest, Loopback) {
  EXPECT_TRUE(MustParse("127.0.0.1").IsLoopback());
  EXPECT_TRUE(MustParse("127.255.255.254").IsLoopback());
  EXPECT_FALSE(MustParse("128.0.0.1").IsLoopback());
  EXPECT_FALSE(MustParse("126.255.255.255").IsLoopback());
  EXPECT_TRUE(MustParse("::1").IsLoopback());
  EXPECT_FALSE(MustParse("::2").IsLoopback());
  EXPECT_FALSE(MustParse("::").IsLoopback());
  EXPECT_FALSE(MustParse("1::1").IsLoopback());
}

TEST(IpAddressTest, Unspecified) {
  EXPECT_TRUE(MustParse("0.0.0.0").IsUnspecified());
  EXPECT_TRUE(MustParse("::").IsUnspecified());
  EXPECT_FALSE(MustParse("0.0.0.1").IsUnspecified());
  EXPECT_FALSE(MustParse("::1").IsUnspecified());
  EXPECT_FALSE(MustParse("1::").IsUnspecified());
}

// --- Canonical output --------------------------------------------------------

TEST(IpAddressTest, ToStringIsRfc5952) {
  const std::pair<const char*, const char*> cases[] = {
      // Leading zeros suppressed, lower case (4.1, 4.3).
      {"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"},
      // A single zero group is not compressed (4.2.2).
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      {"2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      // The longest run is compressed (4.2.3).
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
      // Equal runs: the first one is compressed (4.2.3).
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      {"0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"},
      // Runs at the edges.
      {"1:0:0:0:0:0:0:0", "1::"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"0:0:0:0:0:0:0:0", "::"},
      // Deprecated IPv4-compatible addresses are plain hex (5).
      {"::1.2.3.4", "::102:304"},
      {"::1.2.0.0", "::102:0"},
      {"::0.2.0.3", "::2:3"},
      {"::0.0.0.5", "::5"},
      {"::0.0.1.0", "::100"},
      {"::1:0:0", "::1:0:0"},
      {"fe80::1:2", "fe80::1:2"},
      {"::ffff:0:1.2.3.4", "::ffff:0:102:304"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(MustParse(input).ToString(), expected) << input;
  }
}

TEST(IpAddressTest, ToStringRoundTripsRandomAddresses) {
  std::mt19937_64 random(20240601);
  for (int i = 0; i < 20000; ++i) {
    Bytes bytes{};
    const uint64_t high = random();
    const uint64_t low = random();
    // Zero out random groups so that compression paths are exercised.
    const uint64_t zero_groups = random();
    for (int k = 0; k < 16; ++k) {
      bytes[static_cast<size_t>(k)] =
          static_cast<uint8_t>((k < 8 ? high >> (8 * k) : low >> (8 * (k - 8))) & 0xff);
      if ((zero_groups >> (k / 2)) & 1) bytes[static_cast<size_t>(k)] = 0;
    }
    const IpAddress address = IpAddress::FromV6(bytes);
    const std::string text = address.ToString();
    ASSERT_OK_AND_ASSIGN(IpAddress parsed, IpAddress::Parse(text));
    EXPECT_EQ(parsed, address.Unmapped()) << text;
    EXPECT_EQ(text, ReferenceRfc5952(bytes));

    const uint32_t v4 = static_cast<uint32_t>(random());
    const IpAddress address4 = IpAddress::FromV4(v4);
    EXPECT_THAT(IpAddress::Parse(address4.ToString()), egress::testing::IsOkAndHolds(address4));
  }
}

TEST(IpAddressTest, StreamsCanonicalText) {
  std::ostringstream out;
  out << MustParse("2001:DB8::1") << " " << MustParse("10.0.0.1");
  EXPECT_EQ(out.str(), "2001:db8::1 10.0.0.1");
}

// --- Ordering and hashing -----------------------------------------------------

TEST(IpAddressTest, OrdersV4BeforeV6ThenBytewise) {
  const std::vector<IpAddress> sorted = {MustParse("0.0.0.0"),
                                         MustParse("0.0.0.1"),
                                         MustParse("1.2.3.4"),
                                         MustParse("1.2.3.5"),
                                         MustParse("9.255.255.255"),
                                         MustParse("10.0.0.0"),
                                         MustParse("255.255.255.255"),
                                         MustParse("::"),
                                         MustParse("::1"),
                                         MustParse("::1.2.3.4"),
                                         MustParse("1::"),
                                         MustParse("2001:db8::"),
                                         MustParse("ffff::")};
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (size_t j = 0; j < sorted.size(); ++j) {
      EXPECT_EQ(sorted[i] < sorted[j], i < j) << sorted[i] << " vs " << sorted[j];
      EXPECT_EQ(sorted[i] == sorted[j], i == j) << sorted[i] << " vs " << sorted[j];
      EXPECT_EQ((sorted[i] <=> sorted[j]) == std::strong_ordering::greater, i > j);
    }
  }
  // 0.0.0.0 and :: have the same bytes but different families.
  EXPECT_NE(MustParse("0.0.0.0"), MustParse("::"));
}

TEST(IpAddressTest, HashesConsistentlyWithEquality) {
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly(
      {IpAddress(), MustParse("0.0.0.1"), MustParse("1.2.3.4"), MustParse("::"), MustParse("::1"),
       MustParse("::1.2.3.4"),
       IpAddress::FromV6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}),
       MustParse("2001:db8::1")}));
  absl::flat_hash_set<IpAddress> set;
  set.insert(MustParse("1.2.3.4"));
  set.insert(MustParse("::ffff:1.2.3.4"));  // Same address after normalisation.
  set.insert(MustParse("::1"));
  set.insert(MustParse("0:0:0:0:0:0:0:1"));
  set.insert(MustParse("0.0.0.0"));
  set.insert(MustParse("::"));
  EXPECT_EQ(set.size(), 4u);
  EXPECT_TRUE(set.contains(MustParse("::0.0.0.1")));
  EXPECT_FALSE(set.contains(MustParse("1.2.3.5")));
}

}  // namespace
}  // namespace egress
