// AntivirusService.ReportScan over real gRPC against a real PostgreSQL:
// the antivirus lock follows the newest finished scan.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/connections_test_env.h"

namespace egress {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = ::egress::v1;
using AvStub = v1::AntivirusService::Stub;
using Stub = v1::ConnectionsService::Stub;

class AntivirusServiceTest : public testing::PanelTest {
 protected:
  static v1::ReportScanRequest Scan(const std::string& scan_id, absl::Time finished, int threats,
                                    const std::string& account = "alice") {
    v1::ReportScanRequest request;
    request.set_account_id(account);
    request.set_scan_id(scan_id);
    request.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(finished));
    for (int i = 0; i < threats; ++i) {
      v1::Threat* threat = request.add_threats();
      threat->set_path(absl::StrCat("public_html/upload/", i, ".php"));
      threat->set_signature("Php.Malware.Agent");
    }
    return request;
  }

  grpc::Status Report(const v1::ReportScanRequest& request, v1::ReportScanResponse* out = nullptr,
                      const std::string& token = "") {
    v1::ReportScanResponse response;
    grpc::Status status = Call(antivirus_.get(), &AvStub::ReportScan, token.empty() ? av_ : token,
                               request, &response);
    if (out != nullptr) *out = response;
    return status;
  }

  std::vector<std::string> AuditActions() {
    std::vector<std::string> actions;
    for (const pqxx::row& row :
         Sql("SELECT action FROM audit_log WHERE account_id = 'alice' ORDER BY event_id")) {
      actions.push_back(row[0].as<std::string>());
    }
    return actions;
  }

  uint64_t RuleVersion() {
    return Sql("SELECT rule_version FROM accounts WHERE account_id = 'alice'")[0][0].as<uint64_t>();
  }

  const absl::Time t0_ = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 3600);
};

TEST_F(AntivirusServiceTest, ThreatsLockAndALaterCleanScanUnlocks) {
  const uint64_t v0 = RuleVersion();
  v1::ReportScanResponse response;
  ASSERT_TRUE(Report(Scan("8812", t0_, 3), &response).ok());
  EXPECT_FALSE(response.stale());
  ASSERT_EQ(response.status().locks_size(), 1);
  const v1::Lock& lock = response.status().locks(0);
  EXPECT_EQ(lock.kind(), v1::LOCK_KIND_ANTIVIRUS);
  EXPECT_EQ(lock.scan_id(), "8812");
  EXPECT_EQ(lock.threat_count(), 3u);
  EXPECT_THAT(lock.reason(), AllOf(HasSubstr("8812"), HasSubstr("3 threats")));
  EXPECT_EQ(lock.since().seconds(), absl::ToUnixSeconds(t0_));
  EXPECT_EQ(lock.set_by(), "antivirus:clamav");
  EXPECT_TRUE(response.status().all_blocked());
  EXPECT_GT(response.status().rule_version(), v0);
  const uint64_t v1_version = response.status().rule_version();

  // The threats are kept with the scan.
  EXPECT_EQ(Sql("SELECT threats->2->>'path' FROM antivirus_scans WHERE scan_id = '8812'")[0][0]
                .as<std::string>(),
            "public_html/upload/2.php");

  ASSERT_TRUE(Report(Scan("8813", t0_ + absl::Minutes(10), 0), &response).ok());
  EXPECT_FALSE(response.stale());
  EXPECT_EQ(response.status().locks_size(), 0);
  EXPECT_FALSE(response.status().all_blocked());
  EXPECT_GT(response.status().rule_version(), v1_version);
  EXPECT_EQ(AuditActions(),
            (std::vector<std::string>{"lock.antivirus.set", "lock.antivirus.clear"}));
}

TEST_F(AntivirusServiceTest, AnOlderScanChangesNothing) {
  ASSERT_TRUE(Report(Scan("new-clean", t0_ + absl::Minutes(30), 0)).ok());
  const std::string before_actions = absl::StrCat(AuditActions().size());
  const uint64_t version = RuleVersion();
  v1::ReportScanResponse response;
  // Arrives late, finished earlier, found threats: recorded, but stale.
  ASSERT_TRUE(Report(Scan("old-dirty", t0_, 5), &response).ok());
  EXPECT_TRUE(response.stale());
  EXPECT_FALSE(response.status().all_blocked());
  EXPECT_EQ(RuleVersion(), version);
  EXPECT_EQ(absl::StrCat(AuditActions().size()), before_actions);
  EXPECT_EQ(Sql("SELECT count(*) FROM antivirus_scans WHERE account_id = 'alice'")[0][0].as<int>(),
            2);

  // A lock set by a newer scan is not lifted by an older clean one.
  ASSERT_TRUE(Report(Scan("newest-dirty", t0_ + absl::Minutes(40), 1), &response).ok());
  EXPECT_TRUE(response.status().all_blocked());
  ASSERT_TRUE(Report(Scan("older-clean", t0_ + absl::Minutes(35), 0), &response).ok());
  EXPECT_TRUE(response.stale());
  EXPECT_TRUE(response.status().all_blocked());
  EXPECT_THAT(response.status().locks(0).reason(), HasSubstr("1 threat)"));
}

TEST_F(AntivirusServiceTest, ANewerScanWithThreatsMovesTheLockAndKeepsItsSince) {
  ASSERT_TRUE(Report(Scan("a", t0_, 2)).ok());
  v1::ReportScanResponse response;
  ASSERT_TRUE(Report(Scan("b", t0_ + absl::Minutes(5), 7), &response).ok());
  ASSERT_EQ(response.status().locks_size(), 1);
  EXPECT_EQ(response.status().locks(0).scan_id(), "b");
  EXPECT_EQ(response.status().locks(0).threat_count(), 7u);
  EXPECT_EQ(response.status().locks(0).since().seconds(), absl::ToUnixSeconds(t0_));
  EXPECT_EQ(AuditActions(), (std::vector<std::string>{"lock.antivirus.set", "lock.antivirus.set"}));
}

TEST_F(AntivirusServiceTest, RepeatingAReportIsIdempotent) {
  const v1::ReportScanRequest scan = Scan("same", t0_, 1);
  ASSERT_TRUE(Report(scan).ok());
  const std::string before = Dump();
  v1::ReportScanResponse response;
  ASSERT_TRUE(Report(scan, &response).ok());
  EXPECT_FALSE(response.stale());
  EXPECT_TRUE(response.status().all_blocked());
  EXPECT_EQ(Dump(), before);
  // The same id with other results is a caller bug, refused.
  grpc::Status conflict = Report(Scan("same", t0_, 0));
  EXPECT_EQ(conflict.error_code(), grpc::ALREADY_EXISTS);
  EXPECT_THAT(conflict.error_message(), StartsWith("scan_id:"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(AntivirusServiceTest, ScansAtTheSameInstantFailClosed) {
  ASSERT_TRUE(Report(Scan("z-clean", t0_, 0)).ok());
  v1::ReportScanResponse response;
  ASSERT_TRUE(Report(Scan("a-dirty", t0_, 1), &response).ok());
  EXPECT_FALSE(response.stale());
  EXPECT_TRUE(response.status().all_blocked());
}

TEST_F(AntivirusServiceTest, BadReportsAreInvalidArgumentNamingTheField) {
  ASSERT_TRUE(Report(Scan("before", t0_, 1)).ok());
  const std::string before = Dump();
  struct Case {
    std::function<void(v1::ReportScanRequest*)> change;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto* r) { r->set_account_id(""); }, "account_id:"},
      {[](auto* r) { r->set_account_id("Alice"); }, "account_id:"},
      {[](auto* r) { r->set_scan_id(""); }, "scan_id:"},
      {[](auto* r) { r->set_scan_id(std::string(129, 's')); }, "scan_id:"},
      {[](auto* r) { r->set_scan_id("line\nbreak"); }, "scan_id:"},
      {[](auto* r) { r->set_scan_id("tab\t"); }, "scan_id:"},
      {[](auto* r) { r->set_scan_id(" padded"); }, "scan_id:"},
      {[](auto* r) { r->set_scan_id("скан"); }, "scan_id:"},
      {[](auto* r) { r->clear_finish_time(); }, "finish_time:"},
      {[](auto* r) { r->mutable_finish_time()->set_seconds(-5); }, "finish_time:"},
      {[](auto* r) { r->mutable_finish_time()->set_nanos(-1); }, "finish_time:"},
      {[](auto* r) {
         r->mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 600);
       },
       "finish_time:"},
      {[](auto* r) {
         for (int i = 0; i < 10001; ++i) {
           auto* t = r->add_threats();
           t->set_path("p");
           t->set_signature("s");
         }
       },
       "threats:"},
      {[](auto* r) { r->mutable_threats(0)->set_path(""); }, "threats[0].path:"},
      {[](auto* r) { r->mutable_threats(1)->set_path(std::string(4097, 'p')); },
       "threats[1].path:"},
      {[](auto* r) { r->mutable_threats(1)->set_path(std::string("a\0b", 3)); },
       "threats[1].path:"},
      {[](auto* r) { r->mutable_threats(0)->set_signature(""); }, "threats[0].signature:"},
      {[](auto* r) { r->mutable_threats(0)->set_signature("sig\x1b[31m"); },
       "threats[0].signature:"},
  };
  for (const Case& c : cases) {
    v1::ReportScanRequest request = Scan("next", t0_ + absl::Minutes(1), 2);
    c.change(&request);
    grpc::Status status = Report(request);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << c.field << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field));
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(AntivirusServiceTest, LimitsAndHostileTextAreAcceptedVerbatim) {
  // Clock skew of a few minutes is tolerated.
  v1::ReportScanRequest request =
      Scan("x'); DROP TABLE account_locks;--", absl::Now() + absl::Minutes(2), 0);
  for (int i = 0; i < 10000; ++i) {
    v1::Threat* threat = request.add_threats();
    threat->set_path(absl::StrCat("public_html/\"quoted\" \\ 'file' ", i, " ✓.php"));
    threat->set_signature("{\"json\": true}");
  }
  v1::ReportScanResponse response;
  grpc::Status status = Report(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status().locks(0).threat_count(), 10000u);
  EXPECT_EQ(response.status().locks(0).scan_id(), "x'); DROP TABLE account_locks;--");
  EXPECT_EQ(
      Sql("SELECT threats->9999->>'path', jsonb_array_length(threats) FROM antivirus_scans")[0][0]
          .as<std::string>(),
      "public_html/\"quoted\" \\ 'file' 9999 ✓.php");
}

TEST_F(AntivirusServiceTest, OnlyAntivirusTokensReportScans) {
  const std::string before = Dump();
  v1::ReportScanRequest scan = Scan("s1", t0_, 1);
  EXPECT_EQ(Report(scan, nullptr, alice_).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Report(scan, nullptr, bob_).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Report(scan, nullptr, admin_).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Report(scan, nullptr, "not-a-token").error_code(), grpc::UNAUTHENTICATED);
  grpc::ClientContext context;
  v1::ReportScanResponse response;
  EXPECT_EQ(antivirus_->ReportScan(&context, scan, &response).error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(Report(Scan("s1", t0_, 1, "ghost")).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Dump(), before);
  // Expired antivirus token.
  ASSERT_OK_AND_ASSIGN(
      std::string expired,
      signer_->Sign(Claims{"clamav", {Scope::kAntivirus}, absl::Now() - absl::Minutes(5)}));
  EXPECT_EQ(Report(scan, nullptr, expired).error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(Dump(), before);
}

TEST_F(AntivirusServiceTest, LockChangesAreVisibleInTheAuditLogWithTheActor) {
  ASSERT_TRUE(Report(Scan("s1", t0_, 2)).ok());
  v1::ListAuditEventsRequest request;
  request.set_account_id("alice");
  v1::ListAuditEventsResponse response;
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListAuditEvents, alice_, request, &response).ok());
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.events(0).action(), "lock.antivirus.set");
  EXPECT_EQ(response.events(0).actor(), "antivirus:clamav");
  EXPECT_THAT(response.events(0).after_json(), AllOf(HasSubstr("\"s1\""), HasSubstr("antivirus")));
}

}  // namespace
}  // namespace egress
