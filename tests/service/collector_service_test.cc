// CollectorService end to end: a scripted agent over real gRPC, two service
// replicas, one real PostgreSQL.
#include "service/collector_service.h"

#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

using ::egress::testing::AdminToken;
using ::egress::testing::AgentClient;
using ::egress::testing::Authorize;
using ::egress::testing::DumpAllTables;
using ::egress::testing::FreshDatabase;
using ::egress::testing::NodeToken;
using ::testing::HasSubstr;
namespace v1 = ::egress::v1;

constexpr char kZone[] = "Europe/Moscow";

class CollectorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    replica_a_ = StartReplica(&database_a_);
    replica_b_ = StartReplica(&database_b_);
    channel_a_ = grpc::CreateChannel(replica_a_->address(), grpc::InsecureChannelCredentials());
    channel_b_ = grpc::CreateChannel(replica_b_->address(), grpc::InsecureChannelCredentials());
    admin_b_ = v1::AccountsService::NewStub(channel_b_);
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id("web-01");
    node.mutable_node()->set_server_ipv4("198.51.100.10");
    node.mutable_node()->add_exempt_networks("10.0.0.0/8");
    v1::Node node_out;
    grpc::ClientContext node_context;
    Authorize(&node_context, AdminToken());
    ASSERT_TRUE(admin_b_->UpsertNode(&node_context, node, &node_out).ok());
    ASSERT_TRUE(UpsertAccount("alice", 1001, {}).ok());
    ASSERT_TRUE(UpsertAccount("bob", 1002, {}).ok());
    // Replica A must hear notifications before the tests change rules.
    for (int i = 0; i < 200 && !replica_a_->listening_for_rule_changes(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_TRUE(replica_a_->listening_for_rule_changes());
    today_ = DayOf(absl::Now(), *LoadTimeZone(kZone));
  }

  std::unique_ptr<EgressServer> StartReplica(std::unique_ptr<Database>* database) {
    DatabaseOptions options;
    options.conninfo = conninfo_;
    *database = *Database::Connect(options);
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.time_zone = *LoadTimeZone(kZone);
    // These tests read the counts right after each acknowledgement, which
    // direct writes make exact; collector_journal_test covers the journal
    // (the shipped default) with the same exactly-once checks.
    server_options.ingest_mode = IngestMode::kDirect;
    ServerDependencies deps{database->get(), &::egress::testing::TestSigner()};
    return *EgressServer::Start(server_options, deps);
  }

  grpc::Status UpsertAccount(const std::string& id, uint32_t uid,
                             const std::vector<std::string>& dedicated) {
    v1::UpsertAccountRequest request;
    request.mutable_account()->set_account_id(id);
    request.mutable_account()->set_node_id("web-01");
    request.mutable_account()->set_uid(uid);
    for (const std::string& ip : dedicated) {
      auto* entry = request.mutable_account()->add_dedicated_ips();
      entry->set_ip(ip);
      entry->mutable_order_time()->set_seconds(1700000000);
    }
    v1::Account out;
    grpc::ClientContext context;
    Authorize(&context, AdminToken());
    return admin_b_->UpsertAccount(&context, request, &out);
  }

  v1::ConnectionRecord Record(uint32_t uid, const std::string& ip4, uint32_t port, uint64_t count,
                              v1::Action action = v1::ACTION_ACCEPT) {
    v1::ConnectionRecord record;
    record.set_uid(uid);
    record.mutable_day()->set_year(today_.year());
    record.mutable_day()->set_month(today_.month());
    record.mutable_day()->set_day(today_.day());
    const IpAddress ip = *IpAddress::Parse(ip4);
    record.set_dst_ip(
        std::string(reinterpret_cast<const char*>(ip.bytes().data()), ip.bytes().size()));
    record.set_protocol(v1::PROTOCOL_TCP);
    record.set_dst_port(port);
    record.set_action(action);
    record.set_count(count);
    record.mutable_first_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
    record.mutable_last_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    return record;
  }

  static v1::AgentMessage Batch(uint64_t seq, std::vector<v1::ConnectionRecord> records) {
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(seq);
    for (auto& record : records) *message.mutable_batch()->add_records() = std::move(record);
    return message;
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    return work.exec(sql)[0][0].as<int64_t>();
  }

  // Opens a stream as web-01 and returns it after the Welcome.
  std::unique_ptr<AgentClient> Connect(const std::shared_ptr<grpc::Channel>& channel,
                                       v1::Welcome* welcome = nullptr) {
    auto agent = std::make_unique<AgentClient>(channel, NodeToken("web-01"));
    EXPECT_TRUE(agent->SendHello("web-01"));
    auto message = agent->Next();
    EXPECT_TRUE(message.has_value() && message->has_welcome());
    if (welcome != nullptr && message.has_value()) *welcome = message->welcome();
    return agent;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_a_, database_b_;
  std::unique_ptr<EgressServer> replica_a_, replica_b_;
  std::shared_ptr<grpc::Channel> channel_a_, channel_b_;
  std::unique_ptr<v1::AccountsService::Stub> admin_b_;
  absl::CivilDay today_;
};

TEST_F(CollectorServiceTest, WelcomeCarriesTimeZoneSequenceAndRules) {
  v1::Welcome welcome;
  auto agent = Connect(channel_a_, &welcome);
  EXPECT_EQ(welcome.time_zone(), kZone);
  EXPECT_EQ(welcome.last_committed_seq(), 0u);
  EXPECT_GT(welcome.server_time().seconds(), 0);
  const v1::RuleSet& rules = welcome.rule_set();
  // The node's own version (1) plus each account's (2: created, counted).
  EXPECT_EQ(rules.version(), 5u);
  EXPECT_EQ(rules.accounts(0).version(), 2u);
  EXPECT_THAT(rules.exempt_networks(), ::testing::ElementsAre("10.0.0.0/8"));
  ASSERT_EQ(rules.accounts_size(), 2);
  EXPECT_EQ(rules.accounts(0).account_id(), "alice");
  EXPECT_EQ(rules.accounts(0).uid(), 1001u);
  EXPECT_EQ(rules.accounts(0).egress_ipv4(), "198.51.100.10");
  EXPECT_FALSE(rules.accounts(0).block_all());
}

TEST_F(CollectorServiceTest, BatchesCommitExactlyOnceAcrossResendsAndReconnects) {
  auto agent = Connect(channel_a_);
  ASSERT_TRUE(
      agent->Send(Batch(1, {Record(1001, "192.0.2.7", 443, 5), Record(1001, "192.0.2.7", 443, 2),
                            Record(1002, "192.0.2.8", 53, 1, v1::ACTION_REJECT)})));
  auto ack = agent->NextOfKind(v1::ServiceMessage::kAck);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->ack().seq(), 1u);
  EXPECT_FALSE(ack->ack().duplicate());
  EXPECT_EQ(ack->ack().accepted_records(), 3u);
  EXPECT_EQ(Scalar("SELECT count FROM connection_daily WHERE account_id = 'alice'"), 7);
  EXPECT_EQ(Scalar("SELECT accepted FROM account_day_totals WHERE account_id = 'alice'"), 7);
  EXPECT_EQ(Scalar("SELECT rejected FROM account_day_totals WHERE account_id = 'bob'"), 1);
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info WHERE status = 1"), 2);  // queued for lookup

  // The same batch again (the agent never saw the ack): acked, not counted.
  const std::string before = DumpAllTables(conninfo_);
  ASSERT_TRUE(agent->Send(Batch(1, {Record(1001, "192.0.2.7", 443, 5)})));
  ack = agent->NextOfKind(v1::ServiceMessage::kAck);
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->ack().duplicate());
  EXPECT_EQ(DumpAllTables(conninfo_), before);

  // A new stream (another replica) learns where to resume.
  ASSERT_TRUE(agent->Finish().ok());
  v1::Welcome welcome;
  auto again = Connect(channel_b_, &welcome);
  EXPECT_EQ(welcome.last_committed_seq(), 1u);
  ASSERT_TRUE(again->Send(Batch(2, {Record(1001, "192.0.2.7", 443, 3)})));
  ASSERT_TRUE(again->NextOfKind(v1::ServiceMessage::kAck).has_value());
  EXPECT_EQ(Scalar("SELECT count FROM connection_daily WHERE account_id = 'alice'"), 10);
  EXPECT_EQ(replica_a_->collector().stats().batches_duplicate, 1u);
}

TEST_F(CollectorServiceTest, PipelinedBatchesAreAckedInOrderAndCountedOnce) {
  // The agent keeps many batches unacknowledged; the service reads ahead and
  // commits them in groups, yet acks each one in order after its commit.
  auto agent = Connect(channel_a_);
  constexpr int kBatches = 40;
  for (int seq = 1; seq <= kBatches; ++seq) {
    ASSERT_TRUE(agent->Send(Batch(seq, {Record(1001, "192.0.2.7", 443, 1),
                                        Record(1002, "192.0.2.9", 53, 2, v1::ACTION_REJECT)})));
    // A replay of an earlier batch in the middle of the window.
    if (seq == 20) {
      ASSERT_TRUE(agent->Send(Batch(7, {Record(1001, "192.0.2.7", 443, 100)})));
    }
  }
  std::vector<uint64_t> seqs;
  int duplicates = 0;
  for (int i = 0; i < kBatches + 1; ++i) {
    auto ack = agent->NextOfKind(v1::ServiceMessage::kAck);
    ASSERT_TRUE(ack.has_value()) << i;
    seqs.push_back(ack->ack().seq());
    if (ack->ack().duplicate()) ++duplicates;
  }
  std::vector<uint64_t> expected;
  for (int seq = 1; seq <= kBatches; ++seq) {
    expected.push_back(seq);
    if (seq == 20) expected.push_back(7);
  }
  EXPECT_EQ(seqs, expected);
  EXPECT_EQ(duplicates, 1);
  EXPECT_EQ(Scalar("SELECT count FROM connection_daily WHERE account_id = 'alice'"), kBatches);
  EXPECT_EQ(Scalar("SELECT rejected FROM account_day_totals WHERE account_id = 'bob'"),
            2 * kBatches);
  EXPECT_EQ(Scalar("SELECT last_seq FROM ingest_sequences WHERE node_id = 'web-01'"), kBatches);
  const CollectorStats stats = replica_a_->collector().stats();
  EXPECT_EQ(stats.batches_committed, static_cast<uint64_t>(kBatches));
  EXPECT_EQ(stats.commits.batches, static_cast<uint64_t>(kBatches + 1));
  EXPECT_LE(stats.commits.groups, stats.commits.batches);
  EXPECT_EQ(stats.sequence_gaps, 0u);
}

TEST_F(CollectorServiceTest, BadRecordsAreRefusedOneByOneAndTheRestCommitted) {
  auto agent = Connect(channel_a_);
  v1::ConnectionRecord port_zero = Record(1001, "192.0.2.1", 0, 1);
  v1::ConnectionRecord no_action = Record(1001, "192.0.2.1", 80, 1);
  no_action.set_action(v1::ACTION_UNSPECIFIED);
  v1::ConnectionRecord future = Record(1001, "192.0.2.1", 80, 1);
  future.mutable_day()->set_year(today_.year() + 1);
  v1::ConnectionRecord bad_ip = Record(1001, "192.0.2.1", 80, 1);
  bad_ip.set_dst_ip("abc");
  v1::ConnectionRecord stranger = Record(4242, "192.0.2.1", 80, 9);
  ASSERT_TRUE(agent->Send(Batch(
      1, {port_zero, no_action, future, bad_ip, stranger, Record(1002, "192.0.2.2", 25, 4)})));
  auto ack = agent->NextOfKind(v1::ServiceMessage::kAck);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->ack().accepted_records(), 1u);
  EXPECT_EQ(ack->ack().unknown_uid_records(), 1u);
  ASSERT_EQ(ack->ack().rejections_size(), 4);
  EXPECT_EQ(ack->ack().rejections(0).index(), 0u);
  EXPECT_THAT(ack->ack().rejections(0).reason(), HasSubstr("dst_port"));
  EXPECT_THAT(ack->ack().rejections(1).reason(), HasSubstr("action"));
  EXPECT_THAT(ack->ack().rejections(2).reason(), HasSubstr("future"));
  EXPECT_THAT(ack->ack().rejections(3).reason(), HasSubstr("dst_ip"));
  EXPECT_EQ(Scalar("SELECT coalesce(sum(count), 0) FROM connection_daily"), 4);
  EXPECT_EQ(replica_a_->collector().stats().records_unknown_uid, 1u);
}

TEST_F(CollectorServiceTest, LossReportsMarkTheDay) {
  auto agent = Connect(channel_a_);
  v1::AgentMessage message = Batch(1, {});
  v1::LossReport* loss = message.mutable_batch()->add_losses();
  loss->mutable_day()->set_year(today_.year());
  loss->mutable_day()->set_month(today_.month());
  loss->mutable_day()->set_day(today_.day());
  loss->set_reason(v1::LossReport::REASON_NETLINK_OVERRUN);
  loss->set_events(17);
  ASSERT_TRUE(agent->Send(message));
  ASSERT_TRUE(agent->NextOfKind(v1::ServiceMessage::kAck).has_value());
  EXPECT_EQ(Scalar("SELECT events FROM node_day_losses WHERE node_id = 'web-01'"), 17);
}

TEST_F(CollectorServiceTest, RuleChangesOnOneReplicaArePushedThroughTheOther) {
  v1::Welcome welcome;
  auto agent = Connect(channel_a_, &welcome);  // stream held by replica A
  const absl::Time changed = absl::Now();
  ASSERT_TRUE(UpsertAccount("alice", 1001, {"203.0.113.5"}).ok());  // change through B
  auto pushed = agent->NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(5));
  ASSERT_TRUE(pushed.has_value());
  EXPECT_LT(absl::Now() - changed, absl::Seconds(2));
  EXPECT_GT(pushed->rule_set().version(), welcome.rule_set().version());
  EXPECT_EQ(pushed->rule_set().accounts(0).egress_ipv4(), "203.0.113.5");

  v1::AgentMessage applied;
  applied.mutable_rules_applied()->set_version(pushed->rule_set().version());
  ASSERT_TRUE(agent->Send(applied));
  for (int i = 0; i < 100 && Scalar("SELECT applied_rule_version FROM nodes") !=
                                 static_cast<int64_t>(pushed->rule_set().version());
       ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Scalar("SELECT applied_rule_version FROM nodes"),
            static_cast<int64_t>(pushed->rule_set().version()));
  // And alice's change is confirmed as enforced, at her own version.
  EXPECT_EQ(Scalar("SELECT p.version - a.rule_version FROM accounts a "
                   "JOIN account_rules_applied p USING (account_id) WHERE a.account_id = 'alice'"),
            0);
}

TEST_F(CollectorServiceTest, BlocksAndLocksReachTheAgentWithinASecond) {
  auto agent = Connect(channel_a_);
  auto panel = v1::ConnectionsService::NewStub(channel_b_);
  v1::BlockDestinationRequest block;
  block.set_account_id("alice");
  block.set_destination("192.0.2.0/24");
  block.set_protocol(v1::PROTOCOL_TCP);
  block.set_port(443);
  v1::BlockRule rule;
  grpc::ClientContext block_context;
  Authorize(&block_context, ::egress::testing::PanelToken("alice"));
  absl::Time sent = absl::Now();
  ASSERT_TRUE(panel->BlockDestination(&block_context, block, &rule).ok());
  auto pushed = agent->NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(5));
  ASSERT_TRUE(pushed.has_value());
  EXPECT_LT(absl::Now() - sent, absl::Seconds(1));
  ASSERT_EQ(pushed->rule_set().accounts(0).rules_size(), 1);
  EXPECT_EQ(pushed->rule_set().accounts(0).rules(0).network(), "192.0.2.0/24");
  EXPECT_EQ(pushed->rule_set().accounts(0).rules(0).port(), 443u);
  EXPECT_EQ(pushed->rule_set().accounts(0).rules(0).protocol(), v1::PROTOCOL_TCP);

  auto antivirus = v1::AntivirusService::NewStub(channel_b_);
  v1::ReportScanRequest scan;
  scan.set_account_id("bob");
  scan.set_scan_id("scan-1");
  scan.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 10);
  scan.add_threats()->set_path("public_html/shell.php");
  scan.mutable_threats(0)->set_signature("PHP.Backdoor");
  v1::ReportScanResponse scan_response;
  grpc::ClientContext scan_context;
  Authorize(&scan_context, ::egress::testing::AntivirusToken());
  sent = absl::Now();
  ASSERT_TRUE(antivirus->ReportScan(&scan_context, scan, &scan_response).ok());
  pushed = agent->NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(5));
  ASSERT_TRUE(pushed.has_value());
  EXPECT_LT(absl::Now() - sent, absl::Seconds(1));
  EXPECT_TRUE(pushed->rule_set().accounts(1).block_all());
  EXPECT_EQ(pushed->rule_set().accounts(1).account_id(), "bob");

  // A clean scan lifts it, at once.
  scan.set_scan_id("scan-2");
  scan.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 5);
  scan.clear_threats();
  grpc::ClientContext clean_context;
  Authorize(&clean_context, ::egress::testing::AntivirusToken());
  ASSERT_TRUE(antivirus->ReportScan(&clean_context, scan, &scan_response).ok());
  pushed = agent->NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(5));
  ASSERT_TRUE(pushed.has_value());
  EXPECT_FALSE(pushed->rule_set().accounts(1).block_all());
}

TEST_F(CollectorServiceTest, StreamsNeedTheNodesOwnToken) {
  {
    AgentClient anonymous(channel_a_, "");
    anonymous.SendHello("web-01");
    EXPECT_EQ(anonymous.Finish().error_code(), grpc::UNAUTHENTICATED);
  }
  {
    AgentClient other(channel_a_, NodeToken("web-02"));
    other.SendHello("web-01");
    EXPECT_EQ(other.Finish().error_code(), grpc::PERMISSION_DENIED);
  }
  {
    AgentClient admin(channel_a_, AdminToken());
    admin.SendHello("web-01");
    EXPECT_EQ(admin.Finish().error_code(), grpc::PERMISSION_DENIED);
  }
  {
    AgentClient unknown(channel_a_, NodeToken("web-99"));
    unknown.SendHello("web-99");
    EXPECT_EQ(unknown.Finish().error_code(), grpc::NOT_FOUND);
  }
  {
    AgentClient rude(channel_a_, NodeToken("web-01"));
    rude.Send(Batch(1, {Record(1001, "192.0.2.1", 80, 1)}));
    grpc::Status status = rude.Finish();
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("Hello"));
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM connection_daily"), 0);
}

TEST_F(CollectorServiceTest, ManyNodesInParallelCountExactly) {
  constexpr int kNodes = 6;
  constexpr int kBatches = 20;
  for (int n = 0; n < kNodes; ++n) {
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id("n" + std::to_string(n));
    v1::Node out;
    grpc::ClientContext context;
    Authorize(&context, AdminToken());
    ASSERT_TRUE(admin_b_->UpsertNode(&context, node, &out).ok());
    v1::UpsertAccountRequest account;
    account.mutable_account()->set_account_id("acct" + std::to_string(n));
    account.mutable_account()->set_node_id("n" + std::to_string(n));
    account.mutable_account()->set_uid(5000);
    v1::Account account_out;
    grpc::ClientContext account_context;
    Authorize(&account_context, AdminToken());
    ASSERT_TRUE(admin_b_->UpsertAccount(&account_context, account, &account_out).ok());
  }
  std::vector<std::thread> agents;
  std::atomic<int> acks{0};
  for (int n = 0; n < kNodes; ++n) {
    agents.emplace_back([&, n] {
      AgentClient agent(n % 2 == 0 ? channel_a_ : channel_b_, NodeToken("n" + std::to_string(n)));
      agent.SendHello("n" + std::to_string(n));
      if (!agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value()) return;
      for (int b = 1; b <= kBatches; ++b) {
        // Every node hits the same destinations: the same keys in parallel.
        agent.Send(
            Batch(b, {Record(5000, "192.0.2.1", 443, 1), Record(5000, "192.0.2.2", 443, 2)}));
        // Resend some batches to exercise dedup under load.
        if (b % 5 == 0) agent.Send(Batch(b, {Record(5000, "192.0.2.1", 443, 100)}));
      }
      for (int i = 0; i < kBatches + kBatches / 5; ++i) {
        if (agent.NextOfKind(v1::ServiceMessage::kAck).has_value()) ++acks;
      }
    });
  }
  for (auto& agent : agents) agent.join();
  EXPECT_EQ(acks.load(), kNodes * (kBatches + kBatches / 5));
  for (int n = 0; n < kNodes; ++n) {
    EXPECT_EQ(Scalar("SELECT sum(count) FROM connection_daily WHERE account_id = 'acct" +
                     std::to_string(n) + "'"),
              kBatches * 3)
        << n;
  }
}

}  // namespace
}  // namespace egress
