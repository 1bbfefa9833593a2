// Rule changes on one node under load: an agent stream of node web-01 (500
// accounts, each with some block rules) is held by replica A; customers'
// BlockDestination calls go to replica B; the clock stops when the agent
// holds (and so acknowledges) a rule set containing the new rule. Reported:
//   - one client: latency from the call's return (and from its start) to the
//     agent's acknowledgement;
//   - N concurrent clients for --seconds: rule changes per second and the
//     same latencies;
// each with the agent taking partial rule sets (rule-set-deltas) and, in the
// same run, taking full ones (what every push cost before deltas).
// Baseline in the same run: a one-row durable write + NOTIFY committed on one
// connection and received on another, the floor of any LISTEN/NOTIFY design.
//
//   rule_push_bench [--accounts=500] [--rules_per_account=10] [--changes=300]
//                   [--clients=16] [--seconds=10]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/command_line.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "service/storage/migrations.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/rule_following_agent.h"
#include "tests/support/test_tokens.h"

ABSL_FLAG(int, accounts, 500, "Accounts on the node.");
ABSL_FLAG(int, rules_per_account, 10, "Block rules each account starts with.");
ABSL_FLAG(int, changes, 300, "Rule changes measured with one client.");
ABSL_FLAG(int, clients, 16, "Concurrent clients in the load phase.");
ABSL_FLAG(int, seconds, 10, "Length of the load phase.");

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
  options.ingest_mode = IngestMode::kJournal;
  ServerDependencies deps{database, &testing::TestSigner()};
  return *EgressServer::Start(options, deps);
}

std::string AccountId(int i) { return absl::StrCat("acct-", i); }

// When each rule id first reached the agent.
class ArrivalLog {
 public:
  void Record(const v1::RuleSet& rules, absl::Time at) {
    absl::MutexLock lock(&mutex_);
    for (const v1::AccountRules& account : rules.accounts()) {
      for (const v1::RuleMatch& rule : account.rules()) arrived_.try_emplace(rule.rule_id(), at);
    }
  }
  // Waits until `rule_id` arrived; its arrival time (nullopt after 10 s).
  std::optional<absl::Time> WaitFor(uint64_t rule_id) {
    absl::MutexLock lock(&mutex_);
    auto arrived = [&]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return arrived_.contains(rule_id); };
    if (!mutex_.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10))) return std::nullopt;
    return arrived_.at(rule_id);
  }

 private:
  absl::Mutex mutex_;
  absl::flat_hash_map<uint64_t, absl::Time> arrived_ ABSL_GUARDED_BY(mutex_);
};

struct Latencies {
  std::vector<double> from_return_ms;
  std::vector<double> from_start_ms;
  int changes = 0;
  double seconds = 0;
};

void Print(const std::string& label, const Latencies& l) {
  printf(
      "  %-44s %6d changes %8.0f /s  from return p50 %6.2f p99 %6.2f ms  "
      "from start p50 %6.2f p99 %6.2f ms\n",
      label.c_str(), l.changes, l.seconds > 0 ? l.changes / l.seconds : 0,
      Percentile(l.from_return_ms, 0.5), Percentile(l.from_return_ms, 0.99),
      Percentile(l.from_start_ms, 0.5), Percentile(l.from_start_ms, 0.99));
}

// One BlockDestination on a random account; false on any failure.
bool Change(v1::ConnectionsService::Stub* panel, ArrivalLog* log, std::mt19937* random,
            std::atomic<uint64_t>* next_ip, int accounts, Latencies* out, absl::Mutex* out_mutex) {
  const int account = std::uniform_int_distribution<int>(0, accounts - 1)(*random);
  const uint64_t ip = next_ip->fetch_add(1);
  v1::BlockDestinationRequest request;
  request.set_account_id(AccountId(account));
  request.set_destination(
      absl::StrCat("100.", 64 + ip / 65536 % 64, ".", ip / 256 % 256, ".", ip % 256));
  request.set_protocol(v1::PROTOCOL_TCP);
  request.set_port(443);
  v1::BlockRule rule;
  grpc::ClientContext context;
  testing::Authorize(&context, testing::PanelToken(AccountId(account)));
  const absl::Time start = absl::Now();
  const grpc::Status status = panel->BlockDestination(&context, request, &rule);
  const absl::Time returned = absl::Now();
  if (!status.ok()) {
    fprintf(stderr, "BlockDestination: %s\n", status.error_message().c_str());
    return false;
  }
  std::optional<absl::Time> arrived = log->WaitFor(rule.rule_id());
  if (!arrived.has_value()) {
    fprintf(stderr, "rule %llu never reached the agent\n",
            static_cast<unsigned long long>(rule.rule_id()));
    return false;
  }
  absl::MutexLock lock(out_mutex);
  // The push can beat the call's own response: that is 0 ms after return.
  out->from_return_ms.push_back(std::max(0.0, absl::ToDoubleMilliseconds(*arrived - returned)));
  out->from_start_ms.push_back(absl::ToDoubleMilliseconds(*arrived - start));
  ++out->changes;
  return true;
}

int Run() {
  const int accounts = absl::GetFlag(FLAGS_accounts);
  const int rules_per_account = absl::GetFlag(FLAGS_rules_per_account);
  testing::PostgresClusterOptions cluster_options;
  cluster_options.durable = true;
  auto cluster = *testing::PostgresCluster::Start(cluster_options);
  if (!cluster->CreateDatabase("bench").ok()) return 1;
  const std::string conninfo = cluster->ConnectionString("bench");
  DatabaseOptions db_options;
  db_options.conninfo = conninfo;
  db_options.pool_size = 24;
  auto database_a = *Database::Connect(db_options);
  auto database_b = *Database::Connect(db_options);
  if (!ApplyMigrations(*database_a, EmbeddedMigrations()).ok()) return 1;
  auto replica_a = Replica(database_a.get());
  auto replica_b = Replica(database_b.get());
  auto channel_a = grpc::CreateChannel(replica_a->address(), grpc::InsecureChannelCredentials());
  auto channel_b = grpc::CreateChannel(replica_b->address(), grpc::InsecureChannelCredentials());
  {
    auto admin = v1::AccountsService::NewStub(channel_b);
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id("web-01");
    node.mutable_node()->set_server_ipv4("198.51.100.10");
    v1::Node out;
    grpc::ClientContext context;
    testing::Authorize(&context, testing::AdminToken());
    if (!admin->UpsertNode(&context, node, &out).ok()) return 1;
    for (int i = 0; i < accounts; ++i) {
      v1::UpsertAccountRequest account;
      account.mutable_account()->set_account_id(AccountId(i));
      account.mutable_account()->set_node_id("web-01");
      account.mutable_account()->set_uid(10000 + i);
      v1::Account account_out;
      grpc::ClientContext account_context;
      testing::Authorize(&account_context, testing::AdminToken());
      if (!admin->UpsertAccount(&account_context, account, &account_out).ok()) return 1;
    }
    // The accounts' standing rules, written directly (setup, not measured).
    pqxx::connection connection(conninfo);
    pqxx::work work(connection);
    work.exec_params(
        "INSERT INTO block_rules (account_id, network, protocol, port, created_by) "
        "SELECT 'acct-' || a, ('203.0.' || (a % 250) || '.' || r)::cidr, 6, 25, 'bench' "
        "FROM generate_series(0, $1 - 1) a, generate_series(1, $2) r",
        accounts, rules_per_account);
    // The addresses a node's accounts reached, looked up (a busy node's
    // week; production tables hold far more). A near-empty ip_info made the
    // planner hash the whole table on every new rule's lookup join, a cost
    // production never sees.
    work.exec(
        "INSERT INTO ip_info (ip, status, ptr, looked_up_at, expires_at) "
        "SELECT '198.18.0.0'::inet + n, 2, 'host-' || n || '.example.net', now(), "
        "now() + interval '7 days' FROM generate_series(1, 100000) n");
    work.commit();
    // What autovacuum keeps up in production (the bench's cluster runs
    // without it): planner statistics, and the visibility map.
    pqxx::nontransaction maintenance(connection);
    maintenance.exec("VACUUM ANALYZE");
  }
  while (!replica_a->listening_for_rule_changes()) absl::SleepFor(absl::Milliseconds(10));
  auto panel = v1::ConnectionsService::NewStub(channel_b);
  std::atomic<uint64_t> next_ip{0};

  printf("rule_push_bench: node of %d accounts x %d rules; changes on replica B, agent on A\n",
         accounts, rules_per_account);
  for (bool deltas : {true, false}) {
    ArrivalLog log;
    testing::RuleFollowingAgent::Options agent_options;
    agent_options.node_id = "web-01";
    agent_options.token = testing::NodeToken("web-01");
    agent_options.deltas = deltas;
    agent_options.on_rule_set = [&log](const v1::RuleSet& rules, absl::Time at) {
      log.Record(rules, at);
    };
    testing::RuleFollowingAgent agent(channel_a, agent_options);
    if (!agent.Start()) return 1;
    const std::string mode = deltas ? "partial rule sets" : "full rule sets (no deltas)";
    std::mt19937 random(42);
    absl::Mutex mutex;
    Latencies one;
    const absl::Time one_start = absl::Now();
    for (int i = 0; i < absl::GetFlag(FLAGS_changes); ++i) {
      if (!Change(panel.get(), &log, &random, &next_ip, accounts, &one, &mutex)) return 1;
    }
    one.seconds = absl::ToDoubleSeconds(absl::Now() - one_start);
    Print(absl::StrCat("1 client, ", mode), one);

    Latencies many;
    std::atomic<bool> failed{false};
    const absl::Time until = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_seconds));
    const absl::Time many_start = absl::Now();
    std::vector<std::thread> clients;
    for (int c = 0; c < absl::GetFlag(FLAGS_clients); ++c) {
      clients.emplace_back([&, c] {
        std::mt19937 client_random(static_cast<uint32_t>(c) + 1);
        while (absl::Now() < until && !failed) {
          if (!Change(panel.get(), &log, &client_random, &next_ip, accounts, &many, &mutex)) {
            failed = true;
          }
        }
      });
    }
    for (std::thread& client : clients) client.join();
    many.seconds = absl::ToDoubleSeconds(absl::Now() - many_start);
    if (failed) return 1;
    Print(absl::StrCat(absl::GetFlag(FLAGS_clients), " clients, ", mode), many);
    const testing::RuleFollowingAgent::Counters counters = agent.counters();
    printf("  %-44s %llu full, %llu partial rule sets received\n", "",
           static_cast<unsigned long long>(counters.full_rule_sets),
           static_cast<unsigned long long>(counters.partial_rule_sets));
    agent.Stop();
  }

  // Baseline: a one-row durable write + NOTIFY, commit -> LISTEN receipt.
  std::vector<double> floor_ms;
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
    for (int i = 0; i < absl::GetFlag(FLAGS_changes); ++i) {
      const absl::Time start = absl::Now();
      pqxx::work work(sender);
      work.exec("INSERT INTO bench_writes VALUES (1)");
      work.exec("SELECT pg_notify('bench', 'x')");
      work.commit();
      const int before = receiver.received;
      while (receiver.received == before) listener.await_notification(1, 0);
      floor_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    }
  }
  printf("  %-44s p50 %6.2f ms  p99 %6.2f ms\n", "baseline: 1-row write + NOTIFY -> receipt",
         Percentile(floor_ms, 0.5), Percentile(floor_ms, 0.99));
  return 0;
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "Rule changes on one node under load (bench/README.md).");
  return egress::Run();
}
