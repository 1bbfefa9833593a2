// CollectorService in journal mode (the service binary's default), end to
// end over real gRPC and PostgreSQL: acknowledged batches reach the panel's
// tables by the folder, replays after a reconnect count nothing, and a clean
// shutdown folds what is waiting.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "tests/support/admin_calls.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

using ::egress::testing::AgentClient;
using ::egress::testing::FreshDatabase;
using ::egress::testing::NodeToken;
namespace v1 = ::egress::v1;

class CollectorJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    database_ = *Database::Connect(options);
    today_ = DayOf(absl::Now(), absl::UTCTimeZone());
  }

  std::unique_ptr<EgressServer> Start(absl::Duration fold_interval) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.ingest_mode = IngestMode::kJournal;
    options.ingest_fold_interval = fold_interval;
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    auto server = EgressServer::Start(options, deps);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  void Register(EgressServer& server) {
    auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
    ASSERT_OK(::egress::testing::UpsertNode(channel, "web-01"));
    ASSERT_OK(::egress::testing::UpsertAccount(channel, "alice", "web-01", 1001));
  }

  v1::AgentMessage Batch(uint64_t seq, int records) {
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(seq);
    for (int r = 0; r < records; ++r) {
      v1::ConnectionRecord* record = message.mutable_batch()->add_records();
      record->set_uid(1001);
      record->mutable_day()->set_year(static_cast<int32_t>(today_.year()));
      record->mutable_day()->set_month(today_.month());
      record->mutable_day()->set_day(today_.day());
      const IpAddress ip = IpAddress::FromV4((uint32_t{203} << 24) | (113 << 8) | (r % 50));
      record->set_dst_ip(std::string(reinterpret_cast<const char*>(ip.bytes().data()), 4));
      record->set_protocol(v1::PROTOCOL_TCP);
      record->set_dst_port(443);
      record->set_action(v1::ACTION_ACCEPT);
      record->set_count(2);
      record->mutable_first_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
      record->mutable_last_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    }
    return message;
  }

  // Sends batches seq first..last on a new stream; true once all are acked.
  bool SendAll(EgressServer& server, uint64_t first, uint64_t last, int records) {
    AgentClient agent(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()),
                      NodeToken("web-01"));
    agent.SendHello("web-01");
    if (!agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value()) return false;
    for (uint64_t seq = first; seq <= last; ++seq) agent.Send(Batch(seq, records));
    for (uint64_t seq = first; seq <= last; ++seq) {
      auto ack = agent.NextOfKind(v1::ServiceMessage::kAck, absl::Seconds(20));
      if (!ack.has_value() || ack->ack().seq() != seq) return false;
    }
    agent.CloseSend();
    agent.Finish();
    return true;
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    pqxx::result result = work.exec(sql);
    return result[0][0].is_null() ? 0 : result[0][0].as<int64_t>();
  }

  int64_t WaitFor(const std::string& sql, int64_t want) {
    int64_t got = Scalar(sql);
    for (int i = 0; i < 500 && got != want; ++i) {
      absl::SleepFor(absl::Milliseconds(20));
      got = Scalar(sql);
    }
    return got;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  absl::CivilDay today_;
};

TEST_F(CollectorJournalTest, AcknowledgedBatchesReachThePanelTablesOnceAcrossReplays) {
  std::unique_ptr<EgressServer> server = Start(absl::Milliseconds(50));
  ASSERT_NE(server, nullptr);
  Register(*server);
  ASSERT_TRUE(SendAll(*server, 1, 10, 100));  // 10 x 100 records x count 2
  EXPECT_EQ(WaitFor("SELECT sum(count) FROM connection_daily", 2000), 2000);
  EXPECT_EQ(Scalar("SELECT count(*) FROM connection_daily"), 50);  // 50 keys
  EXPECT_EQ(Scalar("SELECT accepted FROM account_day_totals"), 2000);
  EXPECT_EQ(Scalar("SELECT accepted_rows FROM account_day_totals"), 50);
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info"), 50);
  EXPECT_EQ(WaitFor("SELECT count(*) FROM ingest_journal", 0), 0);

  // The agent reconnects and resends 6..12: 6..10 are acked again and count
  // nothing, 11..12 count once.
  ASSERT_TRUE(SendAll(*server, 6, 12, 100));
  EXPECT_EQ(WaitFor("SELECT sum(count) FROM connection_daily", 2400), 2400);
  absl::SleepFor(absl::Milliseconds(300));  // several more fold intervals
  EXPECT_EQ(Scalar("SELECT sum(count) FROM connection_daily"), 2400);
  EXPECT_EQ(Scalar("SELECT last_seq FROM ingest_sequences"), 12);
  ASSERT_NE(server->journal_folder(), nullptr);
  // Journal entries are merged per group commit (50 keys each), and every
  // accepted batch was in one of them.
  const IngestJournalFolderStats folded = server->journal_folder()->stats();
  EXPECT_EQ(folded.records % 50, 0u);
  EXPECT_GE(folded.records, 50u * 2);   // at least the two streams' groups
  EXPECT_LE(folded.records, 50u * 12);  // at most one group per batch
}

TEST_F(CollectorJournalTest, CleanShutdownFoldsWhatIsWaiting) {
  std::unique_ptr<EgressServer> server = Start(absl::Minutes(1));  // no fold on schedule
  ASSERT_NE(server, nullptr);
  Register(*server);
  // The first fold runs at start, on an empty journal; these wait a minute.
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(SendAll(*server, 1, 4, 100));
  EXPECT_GT(Scalar("SELECT count(*) FROM ingest_journal"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM connection_daily"), 0);
  server->Shutdown(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(Scalar("SELECT count(*) FROM ingest_journal"), 0);
  EXPECT_EQ(Scalar("SELECT sum(count) FROM connection_daily"), 800);
}

}  // namespace
}  // namespace egress
