// Rule push latency across replicas: an agent stream is held by replica A;
// BlockDestination goes to replica B; the clock stops when the new RuleSet
// reaches the agent. Baseline in the same run: a bare PostgreSQL NOTIFY
// round trip (commit on one connection → notification on another), the floor
// of any LISTEN/NOTIFY design.
//
//   rule_push_bench [--changes=200]
#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/command_line.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "service/storage/migrations.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/test_tokens.h"

ABSL_FLAG(int, changes, 200, "Rule changes measured.");

namespace egress {
namespace {

namespace v1 = ::egress::v1;

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

std::unique_ptr<EgressServer> Replica(Database* database) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  ServerDependencies deps{database, &testing::TestSigner()};
  return *EgressServer::Start(options, deps);
}

int Run() {
  const int changes = absl::GetFlag(FLAGS_changes);
  testing::PostgresClusterOptions cluster_options;
  cluster_options.durable = true;
  auto cluster = *testing::PostgresCluster::Start(cluster_options);
  if (!cluster->CreateDatabase("bench").ok()) return 1;
  const std::string conninfo = cluster->ConnectionString("bench");
  DatabaseOptions db_options;
  db_options.conninfo = conninfo;
  auto database_a = *Database::Connect(db_options);
  auto database_b = *Database::Connect(db_options);
  if (!ApplyMigrations(*database_a, EmbeddedMigrations()).ok()) return 1;
  auto replica_a = Replica(database_a.get());
  auto replica_b = Replica(database_b.get());
  auto channel_a = grpc::CreateChannel(replica_a->address(), grpc::InsecureChannelCredentials());
  auto channel_b = grpc::CreateChannel(replica_b->address(), grpc::InsecureChannelCredentials());
  auto admin = v1::AccountsService::NewStub(channel_b);
  {
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id("web-01");
    v1::Node out;
    grpc::ClientContext context;
    testing::Authorize(&context, testing::AdminToken());
    admin->UpsertNode(&context, node, &out);
    v1::UpsertAccountRequest account;
    account.mutable_account()->set_account_id("alice");
    account.mutable_account()->set_node_id("web-01");
    account.mutable_account()->set_uid(1001);
    v1::Account account_out;
    grpc::ClientContext account_context;
    testing::Authorize(&account_context, testing::AdminToken());
    admin->UpsertAccount(&account_context, account, &account_out);
  }
  while (!replica_a->listening_for_rule_changes()) absl::SleepFor(absl::Milliseconds(10));
  testing::AgentClient agent(channel_a, testing::NodeToken("web-01"));
  agent.SendHello("web-01");
  agent.NextOfKind(v1::ServiceMessage::kWelcome);

  auto panel = v1::ConnectionsService::NewStub(channel_b);
  std::vector<double> push_ms;
  for (int i = 0; i < changes; ++i) {
    v1::BlockDestinationRequest request;
    request.set_account_id("alice");
    request.set_destination(absl::StrCat("198.18.", i / 250, ".", i % 250 + 1));
    request.set_protocol(v1::PROTOCOL_TCP);
    request.set_port(443);
    v1::BlockRule rule;
    grpc::ClientContext context;
    testing::Authorize(&context, testing::PanelToken("alice"));
    const absl::Time start = absl::Now();
    if (!panel->BlockDestination(&context, request, &rule).ok()) return 1;
    if (!agent.NextOfKind(v1::ServiceMessage::kRuleSet, absl::Seconds(10)).has_value()) return 1;
    push_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }

  // Baselines: NOTIFY committed on one connection, received on another;
  // bare, and with a one-row durable write in the same transaction (the
  // WAL flush every rule change pays).
  std::vector<double> notify_ms;
  std::vector<double> write_notify_ms;
  {
    pqxx::connection listener(conninfo);
    struct Receiver : pqxx::notification_receiver {
      explicit Receiver(pqxx::connection_base& c) : pqxx::notification_receiver(c, "bench") {}
      void operator()(const std::string&, int) override { ++received; }
      int received = 0;
    } receiver(listener);
    listener.get_notifs();
    pqxx::connection sender(conninfo);
    {
      pqxx::work work(sender);
      work.exec("CREATE TABLE bench_writes (i int)");
      work.commit();
    }
    for (int i = 0; i < 2 * changes; ++i) {
      const bool write = i % 2 == 1;
      const absl::Time start = absl::Now();
      pqxx::work work(sender);
      if (write) work.exec("INSERT INTO bench_writes VALUES (1)");
      work.exec("SELECT pg_notify('bench', 'x')");
      work.commit();
      const int before = receiver.received;
      while (receiver.received == before) listener.await_notification(1, 0);
      (write ? write_notify_ms : notify_ms)
          .push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    }
  }
  printf("rule_push_bench: %d BlockDestination calls on replica B, agent stream on replica A\n",
         changes);
  printf("  %-52s p50 %6.2f ms  p99 %6.2f ms\n", "BlockDestination -> RuleSet at the agent",
         Percentile(push_ms, 0.5), Percentile(push_ms, 0.99));
  printf("  %-52s p50 %6.2f ms  p99 %6.2f ms\n", "baseline: bare NOTIFY commit -> LISTEN receipt",
         Percentile(notify_ms, 0.5), Percentile(notify_ms, 0.99));
  printf("  %-52s p50 %6.2f ms  p99 %6.2f ms\n", "baseline: 1-row write + NOTIFY commit -> receipt",
         Percentile(write_notify_ms, 0.5), Percentile(write_notify_ms, 0.99));
  return 0;
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "Rule push latency across replicas (bench/README.md).");
  return egress::Run();
}
