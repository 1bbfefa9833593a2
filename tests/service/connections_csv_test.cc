// The CSV of ExportConnections: RFC 4180 quoting and the formula guard.
#include "service/connections_csv.h"

#include "gtest/gtest.h"

namespace egress {
namespace {

std::string Field(absl::string_view text) {
  std::string out;
  AppendCsvField(text, &out);
  return out;
}

TEST(ConnectionsCsvTest, PlainFieldsAreWrittenAsTheyAre) {
  EXPECT_EQ(Field(""), "");
  EXPECT_EQ(Field("mail.example.com"), "mail.example.com");
  EXPECT_EQ(Field("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(Field("Київстар"), "Київстар");
  EXPECT_EQ(Field("a-b=c@d"), "a-b=c@d");  // only the first character matters
}

TEST(ConnectionsCsvTest, CommasQuotesAndLineBreaksAreQuoted) {
  EXPECT_EQ(Field("Example, Inc."), "\"Example, Inc.\"");
  EXPECT_EQ(Field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(Field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(Field("cr\rlf"), "\"cr\rlf\"");
}

TEST(ConnectionsCsvTest, FormulaLikeFieldsGetAnApostrophe) {
  EXPECT_EQ(Field("=1+1"), "'=1+1");
  EXPECT_EQ(Field("+49 30"), "'+49 30");
  EXPECT_EQ(Field("-2"), "'-2");
  EXPECT_EQ(Field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(Field("\tx"), "'\tx");
  EXPECT_EQ(Field("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  EXPECT_EQ(Field("\rx"), "\"'\rx\"");
}

TEST(ConnectionsCsvTest, OneRowWithEveryColumn) {
  ConnectionRow row;
  row.ip = *IpAddress::Parse("203.0.113.7");
  row.ip_info.status = 2;
  row.ip_info.ptr = "=cmd|' /C calc'!A0";
  row.ip_info.asn = 64500;
  row.ip_info.as_name = "Example, \"Hosting\"";
  row.ip_info.country = "DE";
  row.ip_info.network = "203.0.113.0/24";
  row.protocol = Protocol::kTcp;
  row.port = 25;
  row.action = RecordAction::kReject;
  row.count = 12;
  row.first_seen = absl::FromUnixSeconds(1773100800);  // 2026-03-10T00:00:00Z
  row.last_seen = absl::FromUnixSeconds(1773100800 + 3661) + absl::Milliseconds(900);
  row.blocking_rule_ids = {3, 17};
  absl::TimeZone kyiv;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Kyiv", &kyiv));
  std::string out;
  AppendConnectionsCsvHeader(&out);
  AppendConnectionCsvRow(row, absl::CivilDay(2026, 3, 10), kyiv, &out);
  EXPECT_EQ(out,
            "date,ip,ptr,ptr_status,owner,asn,country,network,protocol,port,action,count,"
            "first_seen,last_seen,blocking_rule_ids\r\n"
            "2026-03-10,203.0.113.7,'=cmd|' /C calc'!A0,ok,\"Example, \"\"Hosting\"\"\",64500,DE,"
            "203.0.113.0/24,TCP,25,REJECT,12,2026-03-10T02:00:00+02:00,2026-03-10T03:01:01+02:00,"
            "3 17\r\n");
}

TEST(ConnectionsCsvTest, PtrOnlyWhenLookedUpAndFound) {
  ConnectionRow row;
  row.ip = *IpAddress::Parse("2001:db8::1");
  row.ip_info.status = 3;
  row.ip_info.ptr = "stale.example";
  row.protocol = Protocol::kIcmpV6;
  std::string out;
  AppendConnectionCsvRow(row, absl::CivilDay(2026, 3, 10), absl::UTCTimeZone(), &out);
  EXPECT_EQ(out.substr(0, out.find(",ICMPv6")), "2026-03-10,2001:db8::1,,no_ptr,,,,");
}

}  // namespace
}  // namespace egress
