// PostgreSQL goes down under a live agent stream and comes back: the stream
// is closed with UNAVAILABLE (so the agent reconnects), nothing is
// half-written, and after the restart every batch counts exactly once.
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "service/storage/migrations.h"
#include "tests/support/agent_client.h"
#include "tests/support/journal_fold.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AgentClient;
using ::egress::testing::NodeToken;
using ::egress::testing::PostgresCluster;

v1::AgentMessage Batch(uint64_t seq, uint64_t count) {
  const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());
  v1::AgentMessage message;
  message.mutable_batch()->set_seq(seq);
  v1::ConnectionRecord* record = message.mutable_batch()->add_records();
  record->set_uid(1001);
  record->mutable_day()->set_year(static_cast<int32_t>(today.year()));
  record->mutable_day()->set_month(today.month());
  record->mutable_day()->set_day(today.day());
  record->set_dst_ip(std::string("\xc0\x00\x02\x07", 4));
  record->set_protocol(v1::PROTOCOL_TCP);
  record->set_dst_port(443);
  record->set_action(v1::ACTION_ACCEPT);
  record->set_count(count);
  record->mutable_first_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  record->mutable_last_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  return message;
}

TEST(CollectorOutageTest, DatabaseRestartLosesAndDoublesNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster, PostgresCluster::Start());
  ASSERT_OK(cluster->CreateDatabase("egress"));
  const std::string conninfo = cluster->ConnectionString("egress");
  DatabaseOptions options;
  options.conninfo = conninfo;
  options.acquire_timeout = absl::Seconds(2);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));
  ASSERT_OK(ApplyMigrations(*database, EmbeddedMigrations()).status());
  {
    pqxx::connection connection(conninfo);
    pqxx::work work(connection);
    work.exec("INSERT INTO nodes (node_id) VALUES ('web-01')");
    work.exec("INSERT INTO accounts (account_id, node_id, uid) VALUES ('alice', 'web-01', 1001)");
    work.commit();
  }
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  ServerDependencies deps{database.get(), &::egress::testing::TestSigner()};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EgressServer> server,
                       EgressServer::Start(server_options, deps));
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());

  uint64_t acked = 0;
  {
    AgentClient agent(channel, NodeToken("web-01"));
    agent.SendHello("web-01");
    ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
    agent.Send(Batch(1, 5));
    ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());
    acked = 5;

    ASSERT_OK(cluster->StopServer());
    agent.Send(Batch(2, 7));  // the commit cannot happen: no ack, stream closed
    EXPECT_FALSE(agent.NextOfKind(v1::ServiceMessage::kAck, absl::Seconds(5)).has_value());
    EXPECT_EQ(agent.Finish().error_code(), grpc::UNAVAILABLE);
  }
  {
    // Reconnecting while the database is still down fails the same way.
    AgentClient agent(channel, NodeToken("web-01"));
    agent.SendHello("web-01");
    EXPECT_EQ(agent.Finish().error_code(), grpc::UNAVAILABLE);
  }
  ASSERT_OK(cluster->StartServer());
  uint64_t resumed_from = 0;
  for (int attempt = 0; attempt < 50 && resumed_from == 0; ++attempt) {
    AgentClient agent(channel, NodeToken("web-01"));
    agent.SendHello("web-01");
    auto welcome = agent.NextOfKind(v1::ServiceMessage::kWelcome, absl::Seconds(2));
    if (!welcome.has_value()) {
      absl::SleepFor(absl::Milliseconds(100));  // pool still replacing dead connections
      continue;
    }
    resumed_from = welcome->welcome().last_committed_seq();
    ASSERT_EQ(resumed_from, 1u);
    // The agent resends everything after the last committed batch, twice
    // for good measure.
    agent.Send(Batch(2, 7));
    agent.Send(Batch(2, 7));
    agent.Send(Batch(3, 11));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());
    acked += 7 + 11;
  }
  ASSERT_EQ(resumed_from, 1u);
  // Acknowledged means journaled: the counts are exact once folded.
  ASSERT_OK(::egress::testing::WaitForJournalFolded(conninfo));
  pqxx::connection connection(conninfo);
  pqxx::nontransaction work(connection);
  EXPECT_EQ(work.exec("SELECT sum(count) FROM connection_daily")[0][0].as<uint64_t>(), acked);
  EXPECT_EQ(work.exec("SELECT accepted FROM account_day_totals")[0][0].as<uint64_t>(), acked);
  EXPECT_EQ(work.exec("SELECT last_seq FROM ingest_sequences")[0][0].as<uint64_t>(), 3u);
}

}  // namespace
}  // namespace egress
