// Where time decides something, the service asks its Clock: which civil day
// is today in the service's time zone (records and panel dates after
// tomorrow are refused), whether a token has expired, whether a scan
// finished in the future. A FakeClock walks the service across midnight in
// Europe/Kyiv and across the night the clocks go back there (2026-10-25,
// a day of 25 hours), against the real service and PostgreSQL.
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/admin_calls.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AgentClient;
using ::egress::testing::FakeClock;

constexpr char kZone[] = "Europe/Kyiv";

class ServiceClockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(absl::LoadTimeZone(kZone, &zone_));
    clock_ = std::make_unique<FakeClock>(Local(2026, 10, 24, 23, 59, 30));
    DatabaseOptions database_options;
    database_options.conninfo = ::egress::testing::FreshDatabase();
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(database_options));
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.time_zone = zone_;
    options.ingest_mode = IngestMode::kDirect;
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    deps.clock = clock_.get();
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(options, deps));
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-01"));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "alice", "web-01", 1001));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(2));
  }

  absl::Time Local(int y, int m, int d, int hh, int mm, int ss) {
    return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), zone_);
  }

  // A batch of one record dated `day`: accepted (true) or refused.
  bool RecordAccepted(absl::CivilDay day) {
    AgentClient agent(channel_, ::egress::testing::NodeToken("web-01"));
    EXPECT_TRUE(agent.SendHello("web-01"));
    auto welcome = agent.NextOfKind(v1::ServiceMessage::kWelcome);
    EXPECT_TRUE(welcome.has_value());
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(welcome->welcome().last_committed_seq() + 1);
    v1::ConnectionRecord* record = message.mutable_batch()->add_records();
    record->set_uid(1001);
    record->mutable_day()->set_year(static_cast<int32_t>(day.year()));
    record->mutable_day()->set_month(day.month());
    record->mutable_day()->set_day(day.day());
    record->set_dst_ip(std::string("\xc0\x00\x02\x07", 4));
    record->set_protocol(v1::PROTOCOL_TCP);
    record->set_dst_port(443);
    record->set_action(v1::ACTION_ACCEPT);
    record->set_count(1);
    record->mutable_first_seen()->set_seconds(absl::ToUnixSeconds(clock_->Now()));
    record->mutable_last_seen()->set_seconds(absl::ToUnixSeconds(clock_->Now()));
    EXPECT_TRUE(agent.Send(message));
    auto ack = agent.NextOfKind(v1::ServiceMessage::kAck);
    EXPECT_TRUE(ack.has_value());
    agent.CloseSend();
    (void)agent.Finish();
    return ack.has_value() && ack->ack().accepted_records() == 1;
  }

  // ListConnections for `day`: answered (true) or refused as in the future.
  bool DateAccepted(absl::CivilDay day) {
    auto stub = v1::ConnectionsService::NewStub(channel_);
    v1::ListConnectionsRequest request;
    request.set_account_id("alice");
    request.mutable_date()->set_year(static_cast<int32_t>(day.year()));
    request.mutable_date()->set_month(day.month());
    request.mutable_date()->set_day(day.day());
    v1::ListConnectionsResponse response;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, ::egress::testing::PanelToken("alice"));
    const grpc::Status status = stub->ListConnections(&context, request, &response);
    EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    return status.ok();
  }

  absl::TimeZone zone_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServiceClockTest, TodayFollowsTheClockAcrossMidnightAndTheDstChange) {
  const absl::CivilDay oct24(2026, 10, 24), oct25(2026, 10, 25), oct26(2026, 10, 26),
      oct27(2026, 10, 27);
  // 23:59:30 on the 24th: today is the 24th, the 25th is tomorrow.
  EXPECT_TRUE(RecordAccepted(oct25));
  EXPECT_FALSE(RecordAccepted(oct26));
  EXPECT_TRUE(DateAccepted(oct25));
  EXPECT_FALSE(DateAccepted(oct26));
  // One minute later it is the 25th.
  clock_->Advance(absl::Minutes(1));
  EXPECT_TRUE(RecordAccepted(oct26));
  EXPECT_TRUE(DateAccepted(oct26));
  EXPECT_FALSE(DateAccepted(oct27));
  // The 25th has 25 hours (EEST -> EET at 04:00): 24 hours after its start
  // it is still the 25th, at 23:00.
  clock_->Set(Local(2026, 10, 25, 0, 0, 30) + absl::Hours(24));
  EXPECT_EQ(absl::ToCivilDay(clock_->Now(), zone_), oct25);
  EXPECT_FALSE(RecordAccepted(oct27));
  EXPECT_FALSE(DateAccepted(oct27));
  clock_->Set(Local(2026, 10, 26, 0, 0, 30));
  EXPECT_TRUE(RecordAccepted(oct27));
  EXPECT_TRUE(DateAccepted(oct27));
  // Days past the retention are refused by the same clock.
  EXPECT_FALSE(RecordAccepted(oct24 - 401));
}

TEST_F(ServiceClockTest, TokenExpiryAndScanTimesAreJudgedByTheClock) {
  // A token minted for the next hour (of real time) is expired once the
  // service's clock is two hours further on.
  const std::string token = ::egress::testing::MintToken("alice", {Scope::kPanel}, absl::Hours(1));
  auto connections = v1::ConnectionsService::NewStub(channel_);
  v1::ListDatesRequest dates;
  dates.set_account_id("alice");
  v1::ListDatesResponse response;
  clock_->Set(absl::Now());
  {
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, token);
    EXPECT_TRUE(connections->ListDates(&context, dates, &response).ok());
  }
  clock_->Advance(absl::Hours(2));
  {
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, token);
    const grpc::Status status = connections->ListDates(&context, dates, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(status.error_message().find("expired"), std::string::npos);
  }
  // A scan that finished "now" by the real clock is in the future for a
  // service clock an hour behind.
  clock_->Set(absl::Now() - absl::Hours(1));
  auto antivirus = v1::AntivirusService::NewStub(channel_);
  v1::ReportScanRequest scan;
  scan.set_account_id("alice");
  scan.set_scan_id("s-1");
  scan.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  v1::ReportScanResponse scanned;
  {
    grpc::ClientContext context;
    ::egress::testing::Authorize(
        &context, ::egress::testing::MintToken("scanner", {Scope::kAntivirus}, absl::Hours(3)));
    const grpc::Status status = antivirus->ReportScan(&context, scan, &scanned);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("finish_time"), std::string::npos);
  }
  clock_->Set(absl::Now());
  {
    grpc::ClientContext context;
    ::egress::testing::Authorize(
        &context, ::egress::testing::MintToken("scanner", {Scope::kAntivirus}, absl::Hours(3)));
    EXPECT_TRUE(antivirus->ReportScan(&context, scan, &scanned).ok());
  }
}

}  // namespace
}  // namespace egress
