// Request validation of AccountsService: every bad field is named.
#include "service/accounts_validation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

egress::v1::Node GoodNode() {
  egress::v1::Node node;
  node.set_node_id("web-01");
  node.set_server_ipv4("198.51.100.10");
  node.set_server_ipv6("2001:db8::10");
  node.add_exempt_networks("10.0.0.0/8");
  return node;
}

egress::v1::Account GoodAccount() {
  egress::v1::Account account;
  account.set_account_id("alice");
  account.set_node_id("web-01");
  account.set_uid(1001);
  egress::v1::DedicatedIp* ip = account.add_dedicated_ips();
  ip->set_ip("203.0.113.5");
  ip->mutable_order_time()->set_seconds(1700000000);
  return account;
}

TEST(NodeSpecFromProtoTest, AcceptsAGoodNode) {
  ASSERT_OK_AND_ASSIGN(NodeSpec spec, NodeSpecFromProto(GoodNode()));
  EXPECT_EQ(spec.node_id, "web-01");
  EXPECT_EQ(spec.server_ipv4->ToString(), "198.51.100.10");
  EXPECT_EQ(spec.server_ipv6->ToString(), "2001:db8::10");
  ASSERT_EQ(spec.exempt_networks.size(), 1u);
}

TEST(NodeSpecFromProtoTest, ServerAddressesAreOptional) {
  egress::v1::Node node = GoodNode();
  node.clear_server_ipv4();
  node.clear_server_ipv6();
  ASSERT_OK_AND_ASSIGN(NodeSpec spec, NodeSpecFromProto(node));
  EXPECT_FALSE(spec.server_ipv4.has_value());
  EXPECT_FALSE(spec.server_ipv6.has_value());
}

struct BadNodeCase {
  std::string name;
  std::function<void(egress::v1::Node*)> mutate;
  std::string field;
};

class BadNodeTest : public ::testing::TestWithParam<BadNodeCase> {};

TEST_P(BadNodeTest, IsInvalidArgumentNamingTheField) {
  egress::v1::Node node = GoodNode();
  GetParam().mutate(&node);
  EXPECT_THAT(NodeSpecFromProto(node),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(GetParam().field + ":")));
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, BadNodeTest,
    ::testing::Values(
        BadNodeCase{"empty_id", [](auto* n) { n->set_node_id(""); }, "node.node_id"},
        BadNodeCase{"upper_id", [](auto* n) { n->set_node_id("Web-01"); }, "node.node_id"},
        BadNodeCase{"space_id", [](auto* n) { n->set_node_id("web 01"); }, "node.node_id"},
        BadNodeCase{"sql_id", [](auto* n) { n->set_node_id("x'; DROP TABLE nodes;--"); },
                    "node.node_id"},
        BadNodeCase{"nul_id", [](auto* n) { n->set_node_id(std::string("web\0", 4)); },
                    "node.node_id"},
        BadNodeCase{"long_id", [](auto* n) { n->set_node_id(std::string(64, 'a')); },
                    "node.node_id"},
        BadNodeCase{"v6_as_v4", [](auto* n) { n->set_server_ipv4("2001:db8::1"); },
                    "node.server_ipv4"},
        BadNodeCase{"v4_as_v6", [](auto* n) { n->set_server_ipv6("192.0.2.1"); },
                    "node.server_ipv6"},
        BadNodeCase{"garbage_v4", [](auto* n) { n->set_server_ipv4("1.2.3"); }, "node.server_ipv4"},
        BadNodeCase{"loopback_v4", [](auto* n) { n->set_server_ipv4("127.0.0.1"); },
                    "node.server_ipv4"},
        BadNodeCase{"unspecified_v6", [](auto* n) { n->set_server_ipv6("::"); },
                    "node.server_ipv6"},
        BadNodeCase{"zone_v6", [](auto* n) { n->set_server_ipv6("fe80::1%eth0"); },
                    "node.server_ipv6"},
        BadNodeCase{"cidr_prefix_too_long", [](auto* n) { n->add_exempt_networks("1.2.3.4/33"); },
                    "node.exempt_networks[1]"},
        BadNodeCase{"cidr_host_bits", [](auto* n) { n->add_exempt_networks("10.0.0.1/8"); },
                    "node.exempt_networks[1]"},
        BadNodeCase{"cidr_twice", [](auto* n) { n->add_exempt_networks("10.0.0.0/8"); },
                    "node.exempt_networks[1]"},
        BadNodeCase{"too_many_networks",
                    [](auto* n) {
                      for (int i = 0; i < kMaxExemptNetworks; ++i) {
                        n->add_exempt_networks("10.1." + std::to_string(i) + ".0/24");
                      }
                    },
                    "node.exempt_networks"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(AccountSpecFromProtoTest, AcceptsAGoodAccount) {
  ASSERT_OK_AND_ASSIGN(AccountSpec spec, AccountSpecFromProto(GoodAccount()));
  EXPECT_EQ(spec.account_id, "alice");
  EXPECT_EQ(spec.uid, 1001u);
  ASSERT_EQ(spec.dedicated_ips.size(), 1u);
  EXPECT_EQ(spec.dedicated_ips[0].ordered_at, absl::FromUnixSeconds(1700000000));
}

TEST(AccountSpecFromProtoTest, MappedIpv6DedicatedIpIsStoredAsIpv4) {
  egress::v1::Account account = GoodAccount();
  account.mutable_dedicated_ips(0)->set_ip("::ffff:203.0.113.5");
  ASSERT_OK_AND_ASSIGN(AccountSpec spec, AccountSpecFromProto(account));
  EXPECT_EQ(spec.dedicated_ips[0].ip.ToString(), "203.0.113.5");
}

struct BadAccountCase {
  std::string name;
  std::function<void(egress::v1::Account*)> mutate;
  std::string field;
};

class BadAccountTest : public ::testing::TestWithParam<BadAccountCase> {};

TEST_P(BadAccountTest, IsInvalidArgumentNamingTheField) {
  egress::v1::Account account = GoodAccount();
  GetParam().mutate(&account);
  EXPECT_THAT(AccountSpecFromProto(account),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(GetParam().field + ":")));
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, BadAccountTest,
    ::testing::Values(
        BadAccountCase{"empty_id", [](auto* a) { a->set_account_id(""); }, "account.account_id"},
        BadAccountCase{"slash_id", [](auto* a) { a->set_account_id("../etc"); },
                       "account.account_id"},
        BadAccountCase{"utf8_id", [](auto* a) { a->set_account_id("алиса"); },
                       "account.account_id"},
        BadAccountCase{"empty_node", [](auto* a) { a->set_node_id(""); }, "account.node_id"},
        BadAccountCase{"root_uid", [](auto* a) { a->set_uid(0); }, "account.uid"},
        BadAccountCase{"invalid_uid", [](auto* a) { a->set_uid(4294967295u); }, "account.uid"},
        BadAccountCase{"bad_ip", [](auto* a) { a->mutable_dedicated_ips(0)->set_ip("1.2.3.4/32"); },
                       "account.dedicated_ips[0].ip"},
        BadAccountCase{"empty_ip", [](auto* a) { a->mutable_dedicated_ips(0)->set_ip(""); },
                       "account.dedicated_ips[0].ip"},
        BadAccountCase{"loopback_ip", [](auto* a) { a->mutable_dedicated_ips(0)->set_ip("::1"); },
                       "account.dedicated_ips[0].ip"},
        BadAccountCase{"duplicate_ip",
                       [](auto* a) {
                         auto* ip = a->add_dedicated_ips();
                         ip->set_ip("203.0.113.5");
                         ip->mutable_order_time()->set_seconds(1);
                       },
                       "account.dedicated_ips[1].ip"},
        BadAccountCase{"no_order_time",
                       [](auto* a) { a->mutable_dedicated_ips(0)->clear_order_time(); },
                       "account.dedicated_ips[0].order_time"},
        BadAccountCase{
            "negative_nanos",
            [](auto* a) { a->mutable_dedicated_ips(0)->mutable_order_time()->set_nanos(-1); },
            "account.dedicated_ips[0].order_time"},
        BadAccountCase{"year_10000",
                       [](auto* a) {
                         a->mutable_dedicated_ips(0)->mutable_order_time()->set_seconds(
                             253402300800);
                       },
                       "account.dedicated_ips[0].order_time"},
        BadAccountCase{"too_many_ips",
                       [](auto* a) {
                         for (int i = 0; i < kMaxDedicatedIps; ++i) {
                           auto* ip = a->add_dedicated_ips();
                           ip->set_ip("198.51.100." + std::to_string(i + 1));
                           ip->mutable_order_time()->set_seconds(1);
                         }
                       },
                       "account.dedicated_ips"}),
    [](const auto& test_info) { return test_info.param.name; });

}  // namespace
}  // namespace egress
