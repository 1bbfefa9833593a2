#include <array>
#include <cstdint>
#include <vector>

#include "agent/nflog_reject_source.h"
#include "gtest/gtest.h"

namespace egress::agent {
namespace {

TEST(ParsePacketHeadersTest, Ipv4Tcp) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x45;
  p[9] = 6;
  p[16] = 192, p[17] = 0, p[18] = 2, p[19] = 7;
  p[22] = 0x01, p[23] = 0xbb;  // 443
  IpAddress dst;
  Protocol protocol;
  uint16_t port = 0;
  ASSERT_TRUE(ParsePacketHeaders(p, &dst, &protocol, &port));
  EXPECT_EQ(dst.ToString(), "192.0.2.7");
  EXPECT_EQ(protocol, Protocol::kTcp);
  EXPECT_EQ(port, 443);
  p.resize(22);
  EXPECT_FALSE(ParsePacketHeaders(p, &dst, &protocol, &port));
}

TEST(ParsePacketHeadersTest, Ipv6UdpAfterAnExtensionHeader) {
  std::vector<uint8_t> p(40 + 8 + 8, 0);
  p[0] = 0x60;
  p[6] = 60;  // destination options
  p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 1;
  p[40] = 17;  // next: udp
  p[41] = 0;   // 8 bytes
  p[48 + 2] = 0, p[48 + 3] = 53;
  IpAddress dst;
  Protocol protocol;
  uint16_t port = 0;
  ASSERT_TRUE(ParsePacketHeaders(p, &dst, &protocol, &port));
  EXPECT_EQ(dst.ToString(), "2001:db8::1");
  EXPECT_EQ(protocol, Protocol::kUdp);
  EXPECT_EQ(port, 53);
}

TEST(ParsePacketHeadersTest, RejectsGarbage) {
  IpAddress dst;
  Protocol protocol;
  uint16_t port = 0;
  std::vector<uint8_t> p(40, 0);
  EXPECT_FALSE(ParsePacketHeaders(p, &dst, &protocol, &port));
  p[0] = 0x45;
  p[9] = 132;  // SCTP
  EXPECT_FALSE(ParsePacketHeaders(p, &dst, &protocol, &port));
  EXPECT_FALSE(ParsePacketHeaders({}, &dst, &protocol, &port));
}

}  // namespace
}  // namespace egress::agent
