// A rule change that lands while an agent's Hello is being answered: after
// the service loaded the node's rule set for the Welcome, but before the
// stream was registered for pushes. The change's announcement finds no
// stream then; the new rule set must still reach the agent (seen in the
// fault tests: a BlockDestination right after the agent started never
// arrived). Real PostgreSQL and gRPC; the store is wrapped only to run the
// change at exactly that moment. And a change whose announcement was lost.
#include <atomic>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/auth/authorizer.h"
#include "service/collector_service.h"
#include "service/server.h"
#include "service/storage/pg_collector_store.h"
#include "service/thread_pool.h"
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

// Commits a change of web-01's own settings the way a writer would, without
// announcing it; returns the node's rule version after it.
uint64_t CommitUnannouncedNodeChange(const std::string& conninfo) {
  pqxx::connection connection(conninfo);
  pqxx::work txn(connection);
  txn.exec0("UPDATE nodes SET config_version = config_version + 1 WHERE node_id = 'web-01'");
  const uint64_t version = txn.exec1("SELECT egress_node_rule_version('web-01')")[0].as<uint64_t>();
  txn.commit();
  return version;
}

// Runs `after_first_load` once, right after the first LoadRuleSet returned
// its (by then stale) rule set.
class ChangeAfterLoadStore : public PgCollectorStore {
 public:
  ChangeAfterLoadStore(Database* database, std::function<void()> after_first_load)
      : PgCollectorStore(database, IngestMode::kDirect),
        after_first_load_(std::move(after_first_load)) {}

  absl::StatusOr<NodeRuleSet> LoadRuleSet(const std::string& node_id) override {
    absl::StatusOr<NodeRuleSet> rule_set = PgCollectorStore::LoadRuleSet(node_id);
    if (!fired_.exchange(true)) after_first_load_();
    return rule_set;
  }

 private:
  std::function<void()> after_first_load_;
  std::atomic<bool> fired_{false};
};

// A fresh database, a full replica on it (it applies the schema) re-checking
// its agents' rule sets every `recheck_interval`, and the node web-01.
struct ReplicaWithNode {
  std::string conninfo;
  std::unique_ptr<Database> database;
  std::unique_ptr<EgressServer> server;
  std::shared_ptr<grpc::Channel> channel;
};
absl::StatusOr<ReplicaWithNode> StartReplicaWithNode(absl::Duration recheck_interval) {
  ReplicaWithNode replica;
  replica.conninfo = FreshDatabase();
  DatabaseOptions database_options;
  database_options.conninfo = replica.conninfo;
  EGRESS_ASSIGN_OR_RETURN(replica.database, Database::Connect(database_options));
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.rule_recheck_interval = recheck_interval;
  ServerDependencies deps{replica.database.get(), &::egress::testing::TestSigner()};
  EGRESS_ASSIGN_OR_RETURN(replica.server, EgressServer::Start(server_options, deps));
  replica.channel =
      grpc::CreateChannel(replica.server->address(), grpc::InsecureChannelCredentials());
  EGRESS_RETURN_IF_ERROR(::egress::testing::UpsertNode(replica.channel, "web-01", "198.51.100.10"));
  return replica;
}

TEST(CollectorRulePushRaceTest, ChangeBetweenWelcomeLoadAndRegistrationIsPushed) {
  ASSERT_OK_AND_ASSIGN(ReplicaWithNode replica, StartReplicaWithNode(absl::Seconds(5)));
  const std::string& conninfo = replica.conninfo;
  Database* database = replica.database.get();

  // The collector under test, on its own server.
  CollectorServiceImpl* service = nullptr;
  uint64_t changed_version = 0;
  ChangeAfterLoadStore store(database, [&] {
    changed_version = CommitUnannouncedNodeChange(conninfo);
    // The announcement of the change, before the stream is registered.
    service->NodeRulesChanged("web-01");
  });
  Authorizer authorizer(&::egress::testing::TestSigner());
  ThreadPool pool(2);
  CollectorServiceImpl collector(&store, &authorizer, &pool, CollectorOptions{});
  service = &collector;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&collector);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);

  AgentClient agent(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()),
      NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  std::optional<v1::ServiceMessage> welcome = agent.Next();
  ASSERT_TRUE(welcome.has_value());
  ASSERT_TRUE(welcome->has_welcome());
  ASSERT_GT(changed_version, 0u);
  EXPECT_LT(welcome->welcome().rule_set().version(), changed_version);

  std::optional<v1::ServiceMessage> pushed =
      agent.NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(5));
  ASSERT_TRUE(pushed.has_value()) << "the rule set of version " << changed_version
                                  << " never reached the agent";
  EXPECT_EQ(pushed->rule_set().version(), changed_version);

  agent.CloseSend();
  collector.CloseAllStreams();
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  (void)agent.Finish();  // how the stream ends is not under test here
}

// A writer that dies between its commit and its announcement (or whose
// NOTIFY fails) leaves a change nobody announced: the replica holding the
// agent finds it by its periodic re-check (ServerOptions::rule_recheck_interval).
TEST(CollectorRulePushRaceTest, AChangeNeverAnnouncedReachesTheAgentByTheRecheck) {
  ASSERT_OK_AND_ASSIGN(ReplicaWithNode replica, StartReplicaWithNode(absl::Milliseconds(300)));
  const std::string& conninfo = replica.conninfo;
  const std::shared_ptr<grpc::Channel>& channel = replica.channel;

  AgentClient agent(channel, NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  std::optional<v1::ServiceMessage> welcome = agent.Next();
  ASSERT_TRUE(welcome.has_value());
  ASSERT_TRUE(welcome->has_welcome());

  // The change as a writer commits it, without the announcement.
  const uint64_t changed_version = CommitUnannouncedNodeChange(conninfo);
  ASSERT_GT(changed_version, welcome->welcome().rule_set().version());
  const absl::Time committed = absl::Now();
  std::optional<v1::ServiceMessage> pushed =
      agent.NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(5));
  ASSERT_TRUE(pushed.has_value()) << "an unannounced change never reached the agent";
  EXPECT_EQ(pushed->rule_set().version(), changed_version);
  EXPECT_LT(absl::Now() - committed, absl::Seconds(2)) << "found by the 300 ms re-check";

  agent.CloseSend();
  (void)agent.Finish();  // how the stream ends is not under test here
}

}  // namespace
}  // namespace egress
