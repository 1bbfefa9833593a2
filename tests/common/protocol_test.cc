#include "common/protocol.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOkAndHolds;
using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ProtocolTest, ValuesAreIanaNumbers) {
  EXPECT_EQ(static_cast<int>(Protocol::kAny), 0);
  EXPECT_EQ(static_cast<int>(Protocol::kIcmp), 1);
  EXPECT_EQ(static_cast<int>(Protocol::kTcp), 6);
  EXPECT_EQ(static_cast<int>(Protocol::kUdp), 17);
  EXPECT_EQ(static_cast<int>(Protocol::kIcmpV6), 58);
}

TEST(ProtocolTest, ParsesKnownNamesInAnyCase) {
  EXPECT_THAT(ParseProtocol("tcp"), IsOkAndHolds(Protocol::kTcp));
  EXPECT_THAT(ParseProtocol("TCP"), IsOkAndHolds(Protocol::kTcp));
  EXPECT_THAT(ParseProtocol("Tcp"), IsOkAndHolds(Protocol::kTcp));
  EXPECT_THAT(ParseProtocol("udp"), IsOkAndHolds(Protocol::kUdp));
  EXPECT_THAT(ParseProtocol("UdP"), IsOkAndHolds(Protocol::kUdp));
  EXPECT_THAT(ParseProtocol("icmp"), IsOkAndHolds(Protocol::kIcmp));
  EXPECT_THAT(ParseProtocol("ICMP"), IsOkAndHolds(Protocol::kIcmp));
  EXPECT_THAT(ParseProtocol("icmpv6"), IsOkAndHolds(Protocol::kIcmpV6));
  EXPECT_THAT(ParseProtocol("ICMPv6"), IsOkAndHolds(Protocol::kIcmpV6));
  EXPECT_THAT(ParseProtocol("any"), IsOkAndHolds(Protocol::kAny));
  EXPECT_THAT(ParseProtocol("ANY"), IsOkAndHolds(Protocol::kAny));
}

TEST(ProtocolTest, RejectsEverythingElse) {
  for (const std::string& text : {std::string(""),
                                  std::string(" tcp"),
                                  std::string("tcp "),
                                  std::string("tcp\n"),
                                  std::string("t cp"),
                                  std::string("tcp6"),
                                  std::string("udp4"),
                                  std::string("icmp6"),
                                  std::string("ipv6-icmp"),
                                  std::string("6"),
                                  std::string("17"),
                                  std::string("0"),
                                  std::string("sctp"),
                                  std::string("all"),
                                  std::string("*"),
                                  std::string("tcp,udp"),
                                  std::string("tcp/udp"),
                                  std::string("tcp\0", 4),
                                  std::string("\0tcp", 4),
                                  std::string("\xef\xbd\x94\x63\x70"),
                                  std::string(10 * 1024, 't')}) {
    EXPECT_THAT(ParseProtocol(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                              AllOf(HasSubstr("not a known protocol"),
                                                    HasSubstr("tcp, udp, icmp, icmpv6, any"))))
        << text;
  }
}

TEST(ProtocolTest, ErrorQuotesInputSafely) {
  const absl::Status status = ParseProtocol(std::string("tc\0p\n", 5)).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"tc\\x00p\\n\"")));
  EXPECT_LT(ParseProtocol(std::string(10 * 1024, 'x')).status().message().size(), 200u);
}

TEST(ProtocolTest, NamesRoundTrip) {
  for (Protocol protocol :
       {Protocol::kAny, Protocol::kIcmp, Protocol::kTcp, Protocol::kUdp, Protocol::kIcmpV6}) {
    EXPECT_THAT(ParseProtocol(ProtocolName(protocol)), IsOkAndHolds(protocol));
    EXPECT_THAT(ProtocolFromNumber(static_cast<int>(protocol)), IsOkAndHolds(protocol));
  }
  EXPECT_EQ(ProtocolName(Protocol::kTcp), "tcp");
  EXPECT_EQ(ProtocolName(Protocol::kUdp), "udp");
  EXPECT_EQ(ProtocolName(Protocol::kIcmp), "icmp");
  EXPECT_EQ(ProtocolName(Protocol::kIcmpV6), "icmpv6");
  EXPECT_EQ(ProtocolName(Protocol::kAny), "any");
  EXPECT_EQ(ProtocolName(static_cast<Protocol>(132)), "unknown");
}

TEST(ProtocolTest, FromNumberAcceptsOnlyKnownNumbers) {
  EXPECT_THAT(ProtocolFromNumber(6), IsOkAndHolds(Protocol::kTcp));
  EXPECT_THAT(ProtocolFromNumber(17), IsOkAndHolds(Protocol::kUdp));
  EXPECT_THAT(ProtocolFromNumber(0), IsOkAndHolds(Protocol::kAny));
  for (int number : {-1, 2, 4, 5, 41, 47, 50, 132, 255, 256, 262, 1 << 20, -2147483647 - 1}) {
    EXPECT_THAT(ProtocolFromNumber(number),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(std::to_string(number))))
        << number;
  }
}

TEST(ProtocolTest, PortsOnlyForTcpUdpAndAny) {
  EXPECT_TRUE(ProtocolHasPorts(Protocol::kTcp));
  EXPECT_TRUE(ProtocolHasPorts(Protocol::kUdp));
  EXPECT_TRUE(ProtocolHasPorts(Protocol::kAny));
  EXPECT_FALSE(ProtocolHasPorts(Protocol::kIcmp));
  EXPECT_FALSE(ProtocolHasPorts(Protocol::kIcmpV6));
}

}  // namespace
}  // namespace egress
