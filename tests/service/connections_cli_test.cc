// egressctl's panel and antivirus verbs (in-process RunCommand) against the
// real services on a real PostgreSQL.
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/connections_test_env.h"
#include "tools/egressctl/commands.h"

namespace egress {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class ConnectionsCliTest : public testing::PanelTest {
 protected:
  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  Result Ctl(const std::vector<std::string>& args, const std::string& token,
             ctl::CommandOptions options = {}, bool json = false) {
    std::ostringstream out, err;
    ctl::CommandContext context;
    context.channel = channel_;
    context.token = token;
    context.format = json ? ctl::OutputFormat::kJson : ctl::OutputFormat::kTable;
    context.out = &out;
    context.err = &err;
    const int code = ctl::RunCommand(args, options, context);
    return Result{code, out.str(), err.str()};
  }
};

TEST_F(ConnectionsCliTest, BlockListUnblockAndStatus) {
  ctl::CommandOptions options;
  options.protocol = "tcp";
  options.port = 25;
  options.note = "spam relay, don't ask";
  Result block = Ctl({"block", "alice", "203.0.113.7"}, alice_, options);
  ASSERT_EQ(block.code, 0) << block.err;
  EXPECT_THAT(block.out, AllOf(HasSubstr("203.0.113.7/32"), HasSubstr("tcp"), HasSubstr("25"),
                               HasSubstr("spam relay, don't ask"), HasSubstr("account:alice")));
  Result cidr = Ctl({"block", "alice", "198.51.100.0/24"}, alice_);
  ASSERT_EQ(cidr.code, 0) << cidr.err;

  Result rules = Ctl({"rules", "alice"}, alice_, {}, /*json=*/true);
  ASSERT_EQ(rules.code, 0) << rules.err;
  EXPECT_THAT(rules.out, AllOf(HasSubstr("\"network\": \"198.51.100.0/24\""),
                               HasSubstr("\"protocol\": \"PROTOCOL_ANY\""),
                               HasSubstr("\"totalRules\": \"2\"")));
  const std::string ids =
      Sql("SELECT string_agg(rule_id::text, ' ') FROM block_rules")[0][0].as<std::string>();
  const size_t space = ids.find(' ');
  Result duplicate = Ctl({"block", "alice", "198.51.100.0/24"}, alice_);
  EXPECT_EQ(duplicate.code, 1);
  EXPECT_THAT(duplicate.err, AllOf(HasSubstr("ALREADY_EXISTS"), HasSubstr("already blocked")));

  Result unblock = Ctl({"unblock", "alice", ids.substr(0, space), ids.substr(space + 1)}, alice_);
  ASSERT_EQ(unblock.code, 0) << unblock.err;
  EXPECT_THAT(unblock.out, HasSubstr("deleted 2 rule(s)"));
  Result again = Ctl({"unblock", "alice", ids.substr(0, space)}, alice_);
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.err, HasSubstr("NOT_FOUND: rule_ids[0]"));

  // A temporary rule: --expire-in (or --expire-at), shown in EXPIRES.
  ctl::CommandOptions temporary;
  temporary.expire_in = absl::Hours(1);
  Result hour = Ctl({"block", "alice", "192.0.2.99"}, alice_, temporary);
  ASSERT_EQ(hour.code, 0) << hour.err;
  EXPECT_THAT(hour.out,
              AllOf(HasSubstr("EXPIRES"), HasSubstr("192.0.2.99/32"), Not(HasSubstr("never"))));
  EXPECT_EQ(Sql("SELECT round(extract(epoch FROM expires_at - now()) / 60) FROM block_rules "
                "WHERE network = '192.0.2.99/32'")[0][0]
                .as<int>(),
            60);
  ctl::CommandOptions past;
  past.expire_at = "2020-01-01T00:00:00Z";
  Result refused = Ctl({"block", "alice", "192.0.2.98"}, alice_, past);
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, AllOf(HasSubstr("INVALID_ARGUMENT"), HasSubstr("expire_time")));
  ctl::CommandOptions both = temporary;
  both.expire_at = "2030-01-01T00:00:00Z";
  EXPECT_EQ(Ctl({"block", "alice", "192.0.2.98"}, alice_, both).code, 2);

  Result status = Ctl({"status", "alice"}, alice_);
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, AllOf(HasSubstr("web-01"), HasSubstr("203.0.113.5"),
                                HasSubstr("2001:db8::10"), HasSubstr("ENFORCED")));
  Result audit = Ctl({"audit", "alice"}, admin_);
  ASSERT_EQ(audit.code, 0) << audit.err;
  EXPECT_THAT(audit.out, AllOf(HasSubstr("block_rule.create"), HasSubstr("block_rule.delete")));
}

TEST_F(ConnectionsCliTest, BlockAllAndTheAntivirusLock) {
  Result on = Ctl({"block-all", "alice", "on"}, alice_);
  ASSERT_EQ(on.code, 0) << on.err;
  EXPECT_THAT(on.out, AllOf(HasSubstr("manual"), HasSubstr("account:alice")));

  ctl::CommandOptions scan;
  scan.threats = {"public_html/x.php:Php.Webshell"};
  scan.finished = "2026-01-02T03:04:05Z";
  Result report = Ctl({"report-scan", "alice", "scan-77", "tmp/a:b.js:Js.Miner"}, av_, scan);
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_THAT(report.out, AllOf(HasSubstr("antivirus"), HasSubstr("scan-77 (2 threats)"),
                                HasSubstr("2026-01-02T03:04:05Z")));
  EXPECT_EQ(Sql("SELECT threats->1->>'path' FROM antivirus_scans")[0][0].as<std::string>(),
            "tmp/a:b.js");

  Result off = Ctl({"block-all", "alice", "off"}, alice_);
  EXPECT_EQ(off.code, 1);
  EXPECT_THAT(off.err, AllOf(HasSubstr("FAILED_PRECONDITION"), HasSubstr("Remove it and run")));

  Result stale = Ctl({"report-scan", "alice", "scan-76"}, av_, [] {
    ctl::CommandOptions o;
    o.finished = "2026-01-01T00:00:00Z";
    return o;
  }());
  ASSERT_EQ(stale.code, 0) << stale.err;
  EXPECT_THAT(stale.out, HasSubstr("nothing changed"));

  Result clean = Ctl({"report-scan", "alice", "scan-78"}, av_);
  ASSERT_EQ(clean.code, 0) << clean.err;
  EXPECT_THAT(clean.out, Not(HasSubstr("antivirus")));
  Result lifted = Ctl({"block-all", "alice", "off"}, alice_);
  ASSERT_EQ(lifted.code, 0) << lifted.err;
}

TEST_F(ConnectionsCliTest, DatesAndConnections) {
  Sql(R"sql(
    INSERT INTO connection_daily
      (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
    VALUES ('alice', '2026-03-10', '192.0.2.1', 6, 443, 1, 12, now(), now()),
           ('alice', '2026-03-10', '192.0.2.200', 17, 53, 2, 3, now(), now()),
           ('alice', '2026-03-10', '2001:db8::1', 6, 80, 1, 1, now(), now());
    INSERT INTO account_day_totals VALUES ('alice', '2026-03-10', 13, 3, 2, 1);
    INSERT INTO node_day_losses VALUES ('web-01', '2026-03-10', 1, 4);
  )sql");
  Result dates = Ctl({"dates", "alice"}, alice_);
  ASSERT_EQ(dates.code, 0) << dates.err;
  EXPECT_THAT(dates.out, AllOf(HasSubstr("2026-03-10"), HasSubstr("13"), HasSubstr("lower bound")));

  ctl::CommandOptions filter;
  filter.filter = "192.0.2.0/24";
  filter.order_by = "ip";
  Result rows = Ctl({"connections", "alice", "2026-03-10"}, alice_, filter);
  ASSERT_EQ(rows.code, 0) << rows.err;
  EXPECT_THAT(rows.out, AllOf(HasSubstr("192.0.2.1 "), HasSubstr("192.0.2.200"),
                              HasSubstr("REJECT"), Not(HasSubstr("2001:db8::1")),
                              HasSubstr("2 row(s)"), HasSubstr("lower bound")));
  EXPECT_LT(rows.out.find("192.0.2.1 "), rows.out.find("192.0.2.200"));

  filter.filter = "192.0.2.0/24'; --";
  Result bad = Ctl({"connections", "alice", "2026-03-10"}, alice_, filter);
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT: ip_filter:"));
  EXPECT_EQ(Ctl({"connections", "alice", "10.03.2026"}, alice_).code, 2);
  filter.filter = "";
  filter.order_by = "size";
  EXPECT_EQ(Ctl({"connections", "alice", "2026-03-10"}, alice_, filter).code, 2);
}

TEST_F(ConnectionsCliTest, CredentialsAndUsage) {
  Result none = Ctl({"status", "alice"}, "");
  EXPECT_EQ(none.code, 1);
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED"));
  Result other = Ctl({"status", "alice"}, bob_);
  EXPECT_EQ(other.code, 1);
  EXPECT_THAT(other.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(Ctl({"block-all", "alice", "maybe"}, alice_).code, 2);
  EXPECT_EQ(Ctl({"unblock", "alice", "x1"}, alice_).code, 2);
  EXPECT_EQ(Ctl({"block", "alice"}, alice_).code, 2);
  ctl::CommandOptions icmp;
  icmp.protocol = "icmp";
  EXPECT_EQ(Ctl({"block", "alice", "192.0.2.1"}, alice_, icmp).code, 2);
  EXPECT_EQ(Ctl({"report-scan", "alice", "s", "no-colon"}, av_).code, 2);
  EXPECT_EQ(Ctl({"status"}, alice_).code, 2);
}

}  // namespace
}  // namespace egress
