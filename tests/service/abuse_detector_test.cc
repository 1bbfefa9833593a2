// AbuseDetector and the abuse policy, with a fake clock: thresholds over a
// sliding 10-minute window, per-account attribution, mail-server uids,
// overrides, and validation of what an admin may set.
#include "service/abuse_detector.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return *IpAddress::Parse(absl::StrCat(a, ".", b, ".", c, ".", d));
}

AbuseObservation Smtp(const std::string& account, uint32_t uid, uint64_t count) {
  return AbuseObservation{account,         uid,  V4(192, 0, 2, 1), Protocol::kTcp, 25,
                          Action::kAccept, count};
}

class AbuseDetectorTest : public ::testing::Test {
 protected:
  ::egress::testing::FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  AbuseDetector detector_{&clock_};
  AbusePolicySet policies_;
};

TEST_F(AbuseDetectorTest, SmtpBurstOfOneAccountIsFoundAndTheOtherIsNot) {
  EXPECT_THAT(
      detector_.Observe("web-01", {Smtp("alice", 1001, 60), Smtp("bob", 1002, 5)}, policies_),
      IsEmpty());
  clock_.Advance(absl::Seconds(1));
  std::vector<AbuseFinding> found =
      detector_.Observe("web-01", {Smtp("alice", 1001, 41), Smtp("bob", 1002, 5)}, policies_);
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_EQ(found[0].account_id, "alice");
  EXPECT_EQ(found[0].kind, AbuseKind::kSmtp);
  EXPECT_EQ(found[0].measure, 101u);
  EXPECT_THAT(found[0].ports, ElementsAre(25, 465, 587));
  EXPECT_THAT(found[0].detail, HasSubstr("101 SMTP connections"));
  // Reported again only after kRepeatAfter while it lasts.
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("alice", 1001, 1)}, policies_), IsEmpty());
  clock_.Advance(AbuseDetector::kRepeatAfter);
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("alice", 1001, 1)}, policies_), SizeIs(1));
}

TEST_F(AbuseDetectorTest, TheWindowSlides) {
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("alice", 1001, 90)}, policies_), IsEmpty());
  clock_.Advance(absl::Minutes(10));
  // The first 90 left the window.
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("alice", 1001, 90)}, policies_), IsEmpty());
  clock_.Advance(absl::Minutes(9));
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("alice", 1001, 11)}, policies_), SizeIs(1));
  clock_.Advance(absl::Minutes(11));
  EXPECT_EQ(detector_.Forget(), 0u);
}

TEST_F(AbuseDetectorTest, MailServerUidsRejectsAndOverridesAreApplied) {
  policies_.nodes["web-01"].mail_server_uids = std::vector<uint32_t>{1001};
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("alice", 1001, 1000)}, policies_), IsEmpty());
  // Refused SMTP attempts are not sent mail.
  AbuseObservation refused = Smtp("bob", 1002, 500);
  refused.action = Action::kReject;
  EXPECT_THAT(detector_.Observe("web-01", {refused}, policies_), IsEmpty());
  policies_.accounts["bob"].reject_max = 600;
  EXPECT_THAT(detector_.Observe("web-01", {refused}, policies_), SizeIs(1));
  // An account override wins over the default scope.
  policies_.default_scope.smtp_max_connections = 5;
  policies_.accounts["carol"].smtp_max_connections = 50;
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("carol", 1003, 20)}, policies_), IsEmpty());
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("dave", 1004, 20)}, policies_), SizeIs(1));
  policies_.accounts["erin"].enabled = false;
  EXPECT_THAT(detector_.Observe("web-01", {Smtp("erin", 1005, 2000)}, policies_), IsEmpty());
}

TEST_F(AbuseDetectorTest, ScanAndWatchedPorts) {
  policies_.default_scope.scan_max_destinations = 3;
  std::vector<AbuseObservation> scan;
  for (uint8_t i = 1; i <= 4; ++i) {
    scan.push_back(AbuseObservation{"alice", 1001, V4(198, 51, 100, i), Protocol::kTcp, 22,
                                    Action::kAccept, 1});
  }
  std::vector<AbuseFinding> found = detector_.Observe("web-01", scan, policies_);
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_EQ(found[0].kind, AbuseKind::kScan);
  EXPECT_THAT(found[0].ports, ElementsAre(22));
  found = detector_.Observe(
      "web-01",
      {AbuseObservation{"bob", 1002, V4(203, 0, 113, 5), Protocol::kTcp, 6667, Action::kAccept, 1}},
      policies_);
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_EQ(found[0].kind, AbuseKind::kWatchedPort);
  EXPECT_THAT(found[0].ports, ElementsAre(6667));
}

TEST(AbusePolicyTest, ValidateNamesTheField) {
  AbusePolicyOverride policy;
  policy.smtp_max_connections = 0;
  EXPECT_THAT(abuse_policy::Validate(policy, AbuseScope::kDefault),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("smtp_max_connections")));
  policy = AbusePolicyOverride();
  policy.watched_ports = std::vector<uint16_t>{25, 25};
  EXPECT_THAT(abuse_policy::Validate(policy, AbuseScope::kNode),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("watched_ports[1]")));
  policy = AbusePolicyOverride();
  policy.webhook_url = "ftp://example.org/hook";
  EXPECT_THAT(abuse_policy::Validate(policy, AbuseScope::kDefault),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("webhook_url")));
  policy.webhook_url = "https://example.org/hook";
  EXPECT_THAT(abuse_policy::Validate(policy, AbuseScope::kDefault), IsOk());
  EXPECT_THAT(abuse_policy::Validate(policy, AbuseScope::kAccount),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("default scope")));
  EXPECT_FALSE(abuse_policy::IsWebhookUrl("http://"));
  EXPECT_FALSE(abuse_policy::IsWebhookUrl("https://a b/"));
  policy = AbusePolicyOverride();
  policy.lock_minutes = -1;
  EXPECT_THAT(abuse_policy::Validate(policy, AbuseScope::kDefault),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lock_minutes")));
}

}  // namespace
}  // namespace egress
