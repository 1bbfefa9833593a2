// What agents report besides records: their counters (AgentStats in Hello
// and in periodic stats messages) are stored per node and visible through
// AccountsService.GetNode; LossReports of unknown size are stored as such.
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
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AgentClient;

class AgentReportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = ::egress::testing::FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    ASSERT_OK(ApplyMigrations(*database_, EmbeddedMigrations()).status());
    Exec("INSERT INTO nodes (node_id) VALUES ('web-01')");
    Exec("INSERT INTO accounts (account_id, node_id, uid) VALUES ('alice', 'web-01', 1001)");
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(server_options, deps));
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }

  void Exec(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    work.exec(sql);
    work.commit();
  }

  pqxx::row Row(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    return work.exec1(sql);
  }

  v1::Node GetNode() {
    auto admin = v1::AccountsService::NewStub(channel_);
    v1::GetNodeRequest request;
    request.set_node_id("web-01");
    v1::Node node;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, ::egress::testing::AdminToken());
    EXPECT_TRUE(admin->GetNode(&context, request, &node).ok());
    return node;
  }

  static v1::AgentStats Stats(uint64_t events) {
    v1::AgentStats stats;
    stats.set_conntrack_events(events);
    stats.set_reject_events(3);
    stats.set_netlink_overruns(1);
    stats.set_records(7);
    stats.set_batches_sent(2);
    stats.set_batches_acked(1);
    stats.set_spool_bytes(4096);
    stats.set_applied_rule_version(5);
    stats.set_nft_errors(1);
    stats.set_conntrack_events_sysctl(2);
    return stats;
  }

  static v1::AgentMessage LossBatch(uint64_t seq, uint64_t events, bool size_unknown) {
    const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(seq);
    v1::LossReport* loss = message.mutable_batch()->add_losses();
    loss->mutable_day()->set_year(static_cast<int32_t>(today.year()));
    loss->mutable_day()->set_month(today.month());
    loss->mutable_day()->set_day(today.day());
    loss->set_reason(v1::LossReport::REASON_NETLINK_OVERRUN);
    loss->set_events(events);
    loss->set_size_unknown(size_unknown);
    return message;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AgentReportsTest, StatsFromHelloAndStatsMessagesAreStoredAndVisible) {
  EXPECT_FALSE(GetNode().has_agent_stats()) << "no agent reported yet";
  AgentClient agent(channel_, ::egress::testing::NodeToken("web-01"));
  v1::AgentMessage hello;
  hello.mutable_hello()->set_node_id("web-01");
  hello.mutable_hello()->set_agent_version("1.2.3");
  *hello.mutable_hello()->mutable_stats() = Stats(42);
  ASSERT_TRUE(agent.Send(hello));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());

  v1::Node node = GetNode();
  EXPECT_EQ(node.agent_version(), "1.2.3");
  EXPECT_EQ(node.agent_stats().conntrack_events(), 42u);
  EXPECT_EQ(node.agent_stats().reject_events(), 3u);
  EXPECT_EQ(node.agent_stats().netlink_overruns(), 1u);
  EXPECT_EQ(node.agent_stats().records(), 7u);
  EXPECT_EQ(node.agent_stats().batches_sent(), 2u);
  EXPECT_EQ(node.agent_stats().batches_acked(), 1u);
  EXPECT_EQ(node.agent_stats().spool_bytes(), 4096u);
  EXPECT_EQ(node.agent_stats().applied_rule_version(), 5u);
  EXPECT_EQ(node.agent_stats().nft_errors(), 1u);
  EXPECT_EQ(node.agent_stats().conntrack_events_sysctl(), 2);
  const int64_t first_report = node.agent_stats_time().seconds();
  EXPECT_GT(first_report, 0);

  // A periodic stats message replaces them. The service handles a stream's
  // messages in order, so once a later batch is acked, the stats are stored.
  v1::AgentMessage stats;
  *stats.mutable_stats() = Stats(50);
  ASSERT_TRUE(agent.Send(stats));
  ASSERT_TRUE(agent.Send(LossBatch(1, 0, true)));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());
  EXPECT_EQ(GetNode().agent_stats().conntrack_events(), 50u);
  EXPECT_EQ(Row("SELECT count(*) FROM node_agent_stats")[0].as<int>(), 1);
  agent.CloseSend();
  (void)agent.Finish();
}

TEST_F(AgentReportsTest, LossOfUnknownSizeIsStoredAsSuch) {
  AgentClient agent(channel_, ::egress::testing::NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
  ASSERT_TRUE(agent.Send(LossBatch(1, 0, true)));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());
  pqxx::row row = Row("SELECT events, size_unknown FROM node_day_losses");
  EXPECT_EQ(row[0].as<int64_t>(), 0);
  EXPECT_TRUE(row[1].as<bool>());
  // A counted loss the same day adds its events; the day stays "unknown".
  ASSERT_TRUE(agent.Send(LossBatch(2, 3, false)));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());
  row = Row("SELECT events, size_unknown FROM node_day_losses");
  EXPECT_EQ(row[0].as<int64_t>(), 3);
  EXPECT_TRUE(row[1].as<bool>());
  agent.CloseSend();
  (void)agent.Finish();
}

}  // namespace
}  // namespace egress
