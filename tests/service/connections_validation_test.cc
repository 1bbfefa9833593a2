// Pure request validation of the panel and antivirus APIs (no server, no
// database): the cases gRPC cannot carry (invalid UTF-8) and the edges.
#include "service/connections_validation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = ::egress::v1;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

TEST(ConnectionsValidationTest, IpFilterKinds) {
  ASSERT_OK_AND_ASSIGN(IpFilter none, ParseIpFilter("", "f"));
  EXPECT_EQ(none.kind, IpFilter::Kind::kNone);
  ASSERT_OK_AND_ASSIGN(IpFilter exact, ParseIpFilter("::ffff:192.0.2.1", "f"));
  EXPECT_EQ(exact.kind, IpFilter::Kind::kNetwork);
  EXPECT_EQ(exact.network->ToString(), "192.0.2.1/32");
  ASSERT_OK_AND_ASSIGN(IpFilter cidr, ParseIpFilter("2001:DB8::/32", "f"));
  EXPECT_EQ(cidr.network->ToString(), "2001:db8::/32");
  ASSERT_OK_AND_ASSIGN(IpFilter prefix, ParseIpFilter("2001:DB8:", "f"));
  EXPECT_EQ(prefix.kind, IpFilter::Kind::kTextPrefix);
  EXPECT_EQ(prefix.prefix, "2001:db8:");
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/", "1.2.3.4 ", "%", "_", "a%", "1.2\\", "g",
                          "1.2.3.4/24/8", "10.0.0.0/-1"}) {
    EXPECT_THAT(ParseIpFilter(bad, "ip_filter"), StatusIs(kInvalid, StartsWith("ip_filter:")))
        << bad;
  }
}

TEST(ConnectionsValidationTest, Dates) {
  v1::Date date;
  EXPECT_THAT(DayFromProto(date, "date"), StatusIs(kInvalid, HasSubstr("required")));
  date.set_year(2024);
  date.set_month(2);
  date.set_day(29);
  ASSERT_OK_AND_ASSIGN(absl::CivilDay leap, DayFromProto(date, "date"));
  EXPECT_EQ(leap, absl::CivilDay(2024, 2, 29));
  date.set_year(2023);
  EXPECT_THAT(DayFromProto(date, "date"), StatusIs(kInvalid, StartsWith("date:")));
  date.set_year(10000);
  EXPECT_THAT(DayFromProto(date, "date"), StatusIs(kInvalid));
  date.set_year(2024);
  date.set_month(0);
  EXPECT_THAT(DayFromProto(date, "date"), StatusIs(kInvalid));
}

TEST(ConnectionsValidationTest, BlockRuleSpecs) {
  v1::BlockDestinationRequest request;
  request.set_destination("203.0.113.0/24");
  request.set_port(443);
  ASSERT_OK_AND_ASSIGN(BlockRuleSpec spec, BlockRuleSpecFromProto(request, kNow));
  EXPECT_EQ(spec.protocol, Protocol::kAny);
  EXPECT_EQ(spec.port, 443);
  request.set_note("\xff\xfe");
  EXPECT_THAT(BlockRuleSpecFromProto(request, kNow), StatusIs(kInvalid, StartsWith("note:")));
  request.set_note("\xed\xa0\x80");  // a surrogate
  EXPECT_THAT(BlockRuleSpecFromProto(request, kNow), StatusIs(kInvalid, StartsWith("note:")));
}

TEST(ConnectionsValidationTest, BlockRuleExpiries) {
  v1::BlockDestinationRequest request;
  request.set_destination("203.0.113.7");
  ASSERT_OK_AND_ASSIGN(BlockRuleSpec permanent, BlockRuleSpecFromProto(request, kNow));
  EXPECT_FALSE(permanent.expires_at.has_value());

  auto at = [&](absl::Time t) {
    request.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(t));
    request.mutable_expire_time()->set_nanos(0);
  };
  at(kNow + absl::Hours(1));
  ASSERT_OK_AND_ASSIGN(BlockRuleSpec hour, BlockRuleSpecFromProto(request, kNow));
  EXPECT_EQ(hour.expires_at, kNow + absl::Hours(1));
  at(kNow + kMaxBlockRuleLifetime);  // the last instant allowed
  EXPECT_TRUE(BlockRuleSpecFromProto(request, kNow).ok());

  // The past, now itself and beyond a year and a day: refused naming the field.
  for (absl::Time bad : {kNow - absl::Seconds(1), kNow, kNow - absl::Hours(24 * 400)}) {
    at(bad);
    EXPECT_THAT(BlockRuleSpecFromProto(request, kNow),
                StatusIs(kInvalid, AllOf(StartsWith("expire_time:"), HasSubstr("future"))));
  }
  at(kNow + kMaxBlockRuleLifetime + absl::Seconds(1));
  EXPECT_THAT(BlockRuleSpecFromProto(request, kNow),
              StatusIs(kInvalid, AllOf(StartsWith("expire_time:"), HasSubstr("366 days"))));
  request.mutable_expire_time()->set_seconds(253402300800);  // year 10000
  EXPECT_THAT(BlockRuleSpecFromProto(request, kNow), StatusIs(kInvalid, StartsWith("expire_time")));
  request.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(kNow) + 60);
  request.mutable_expire_time()->set_nanos(-1);
  EXPECT_THAT(BlockRuleSpecFromProto(request, kNow), StatusIs(kInvalid, StartsWith("expire_time")));
}

TEST(ConnectionsValidationTest, ScanReports) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  v1::ReportScanRequest request;
  request.set_scan_id("s1");
  request.mutable_finish_time()->set_seconds(1800000000 + 299);
  v1::Threat* threat = request.add_threats();
  threat->set_path("a.php");
  threat->set_signature("sig");
  ASSERT_OK_AND_ASSIGN(ScanReport report, ScanReportFromProto(request, now));
  EXPECT_EQ(report.threats.size(), 1u);
  request.mutable_finish_time()->set_seconds(1800000000 + 301);
  EXPECT_THAT(ScanReportFromProto(request, now), StatusIs(kInvalid, StartsWith("finish_time:")));
  request.mutable_finish_time()->set_seconds(1800000000);
  threat->set_path("bad\xc3");
  EXPECT_THAT(ScanReportFromProto(request, now),
              StatusIs(kInvalid, StartsWith("threats[0].path:")));
  threat->set_path("ok");
  threat->set_signature(std::string("\x7f"));
  EXPECT_THAT(ScanReportFromProto(request, now),
              StatusIs(kInvalid, StartsWith("threats[0].signature:")));
  request.set_scan_id(std::string(128, 'x'));
  threat->set_signature("sig");
  EXPECT_TRUE(ScanReportFromProto(request, now).ok());
}

TEST(ConnectionsValidationTest, PageTokensRoundTripOnlyForTheSameFilters) {
  v1::ListConnectionsRequest request;
  request.set_account_id("alice");
  request.mutable_date()->set_year(2026);
  request.mutable_date()->set_month(3);
  request.mutable_date()->set_day(10);
  request.set_ip_filter("10.0.0.0/8");
  const absl::CivilDay latest(2026, 12, 31);
  ASSERT_OK_AND_ASSIGN(ConnectionQuery query, ConnectionQueryFromProto(request, latest));
  EXPECT_EQ(query.limit, 100);
  EXPECT_TRUE(query.descending);
  ConnectionCursor cursor;
  cursor.primary = 42;
  cursor.ip = *IpAddress::Parse("10.1.2.3");
  cursor.protocol = 17;
  cursor.port = 53;
  cursor.action = 2;
  request.set_page_token(ConnectionsPageToken(query, cursor));
  ASSERT_OK_AND_ASSIGN(ConnectionQuery next, ConnectionQueryFromProto(request, latest));
  ASSERT_TRUE(next.after.has_value());
  EXPECT_EQ(next.after->primary, 42);
  EXPECT_EQ(next.after->ip.ToString(), "10.1.2.3");
  EXPECT_EQ(next.after->port, 53);
  request.set_account_id("bob");
  EXPECT_THAT(ConnectionQueryFromProto(request, latest),
              StatusIs(kInvalid, StartsWith("page_token:")));
  request.set_account_id("alice");
  request.set_reverse(true);
  EXPECT_THAT(ConnectionQueryFromProto(request, latest),
              StatusIs(kInvalid, StartsWith("page_token:")));
  request.set_reverse(false);
  request.mutable_date()->set_year(2027);
  EXPECT_THAT(ConnectionQueryFromProto(request, latest), StatusIs(kInvalid, StartsWith("date:")));
}

TEST(ConnectionsValidationTest, RuleIds) {
  v1::DeleteBlockRulesRequest request;
  request.add_rule_ids(1);
  request.add_rule_ids(uint64_t{1} << 63);
  EXPECT_THAT(RuleIdsFromProto(request), StatusIs(kInvalid, StartsWith("rule_ids[1]:")));
  EXPECT_THAT(DecodeIdPageToken("!!", "block_rules", "page_token"),
              StatusIs(kInvalid, StartsWith("page_token:")));
  ASSERT_OK_AND_ASSIGN(std::optional<uint64_t> none,
                       DecodeIdPageToken("", "block_rules", "page_token"));
  EXPECT_FALSE(none.has_value());
}

}  // namespace
}  // namespace egress
