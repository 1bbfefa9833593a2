// The PostgreSQL primary dies (SIGKILL to the whole node) while an agent
// streams batches and a customer changes rules: a pg_auto_failover
// formation (monitor, primary, synchronous standby) promotes the standby,
// and the egress-service binary, connected with the multi-host string
// (target_session_attrs=read-write), carries on without a restart.
//
// Checked: every batch the agent spooled is acknowledged in the end and
// counted exactly once (each batch writes its own row, so a lost or doubled
// batch shows as a wrong row, not only a wrong sum); rule changes made
// after the failover reach the agent's live stream (LISTEN/NOTIFY on the
// new primary); and the time from the kill to the first acknowledgement
// after it, printed and bounded.
//
// The agent is the real uplink (agent/grpc_uplink.h) with its real file
// spool and default reconnection backoff, so the recovery time is what a
// node would see. EGRESS_FAILOVER_DEFAULT_TIMEOUTS=1 runs the formation
// with pg_auto_failover's default health checks instead of the faster ones
// the runbook recommends (docs/operations.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/desired_rule_set.h"
#include "agent/file_spool.h"
#include "agent/grpc_uplink.h"
#include "common/civil_day.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/admin_calls.h"
#include "tests/support/auto_failover_formation.h"
#include "tests/support/files.h"
#include "tests/support/postgres_user.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::egress::v1;
using ::egress::testing::AutoFailoverFormation;
using ::egress::testing::ChildProcess;

constexpr char kNode[] = "web-01";
constexpr char kAccount[] = "alice";
constexpr uint32_t kUid = 1001;

// The spool the uplink really uses, recording when each acknowledgement
// (an Ack, or a Welcome's last committed sequence) moved it forward.
class AckTimingSpool : public agent::Spool {
 public:
  explicit AckTimingSpool(std::unique_ptr<agent::FileSpool> spool) : spool_(std::move(spool)) {}

  absl::StatusOr<uint64_t> Append(v1::RecordBatch* batch, uint64_t high_water_mark,
                                  uint64_t reject_mark = 0) override {
    return spool_->Append(batch, high_water_mark, reject_mark);
  }
  absl::Status Anchor(uint64_t last_committed_seq) override {
    return spool_->Anchor(last_committed_seq);
  }
  absl::Status AckThrough(uint64_t seq) override {
    {
      absl::MutexLock lock(&mutex_);
      if (seq > acked_) {
        acked_ = seq;
        ++acks_;
        last_ack_ = absl::Now();
        if (first_ack_after_ == absl::InfiniteFuture() && last_ack_ > mark_) {
          first_ack_after_ = last_ack_;
        }
      }
    }
    return spool_->AckThrough(seq);
  }
  absl::StatusOr<v1::RecordBatch> NextAfter(uint64_t seq) override {
    return spool_->NextAfter(seq);
  }
  std::vector<v1::LossReport> TakeOverflowLosses() override { return spool_->TakeOverflowLosses(); }
  agent::SpoolStats stats() const override { return spool_->stats(); }

  // From now on, remember the first acknowledgement.
  void Mark(absl::Time when) {
    absl::MutexLock lock(&mutex_);
    mark_ = when;
    first_ack_after_ = absl::InfiniteFuture();
  }
  // The first acknowledgement after the mark, once there is one.
  bool WaitForAckAfterMark(absl::Duration timeout, absl::Time* when) {
    absl::MutexLock lock(&mutex_);
    const bool got = mutex_.AwaitWithTimeout(
        absl::Condition(
            +[](absl::Time* first) { return *first != absl::InfiniteFuture(); }, &first_ack_after_),
        timeout);
    *when = first_ack_after_;
    return got;
  }
  bool WaitForAcks(uint64_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mutex_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return acks_ >= count; };
    return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  uint64_t acks() {
    absl::MutexLock lock(&mutex_);
    return acks_;
  }

 private:
  std::unique_ptr<agent::FileSpool> spool_;
  absl::Mutex mutex_;
  uint64_t acked_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t acks_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Time last_ack_ ABSL_GUARDED_BY(mutex_);
  absl::Time mark_ ABSL_GUARDED_BY(mutex_) = absl::InfiniteFuture();
  absl::Time first_ack_after_ ABSL_GUARDED_BY(mutex_) = absl::InfiniteFuture();
};

// Keeps the node's rule set as the agent does (DesiredRuleSet) and confirms
// every version at once (no kernel here).
class RuleKeepingListener : public agent::UplinkListener {
 public:
  v1::RulesApplied OnWelcome(const v1::Welcome& welcome) override {
    absl::MutexLock lock(&mutex_);
    (void)rules_.Merge(welcome.rule_set());
    return Applied();
  }
  std::optional<v1::RulesApplied> OnRuleSet(const v1::RuleSet& rules) override {
    absl::MutexLock lock(&mutex_);
    if (!rules_.Merge(rules).ok()) return std::nullopt;
    ++pushed_;
    return Applied();
  }
  v1::AgentStats Stats() override { return v1::AgentStats(); }

  std::set<uint64_t> RuleIds() {
    absl::MutexLock lock(&mutex_);
    return RuleIdsLocked();
  }
  // Waits until rule `rule_id` is in the rule set.
  bool WaitForRule(uint64_t rule_id, absl::Duration timeout) {
    absl::MutexLock lock(&mutex_);
    auto held = [this, rule_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return RuleIdsLocked().contains(rule_id);
    };
    return mutex_.AwaitWithTimeout(absl::Condition(&held), timeout);
  }

 private:
  v1::RulesApplied Applied() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    v1::RulesApplied applied;
    applied.set_version(rules_.current().version());
    return applied;
  }
  std::set<uint64_t> RuleIdsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    std::set<uint64_t> ids;
    for (const v1::AccountRules& account : rules_.current().accounts()) {
      for (const v1::RuleMatch& rule : account.rules()) ids.insert(rule.rule_id());
    }
    return ids;
  }

  absl::Mutex mutex_;
  agent::DesiredRuleSet rules_ ABSL_GUARDED_BY(mutex_);
  uint64_t pushed_ ABSL_GUARDED_BY(mutex_) = 0;
};

// One batch of the stream: its own destination port, so each batch is one
// row of connection_daily.
v1::RecordBatch Batch(uint32_t port, uint64_t count) {
  const absl::Time now = absl::Now();
  const absl::CivilDay today = DayOf(now, absl::UTCTimeZone());
  v1::RecordBatch batch;
  v1::ConnectionRecord* record = batch.add_records();
  record->set_uid(kUid);
  record->mutable_day()->set_year(static_cast<int32_t>(today.year()));
  record->mutable_day()->set_month(today.month());
  record->mutable_day()->set_day(today.day());
  record->set_dst_ip(std::string("\xc0\x00\x02\x07", 4));
  record->set_protocol(v1::PROTOCOL_TCP);
  record->set_dst_port(port);
  record->set_action(v1::ACTION_ACCEPT);
  record->set_count(count);
  record->mutable_first_seen()->set_seconds(absl::ToUnixSeconds(now));
  record->mutable_last_seen()->set_seconds(absl::ToUnixSeconds(now));
  return batch;
}

// A customer blocking a destination through the panel API; the rule id, or
// an error (during the outage).
absl::StatusOr<uint64_t> BlockDestination(v1::ConnectionsService::Stub& stub, int k) {
  grpc::ClientContext context;
  ::egress::testing::Authorize(&context, ::egress::testing::PanelToken(kAccount));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::BlockDestinationRequest request;
  request.set_account_id(kAccount);
  request.set_destination(absl::StrCat("198.51.100.", 1 + k % 250));
  request.set_protocol(v1::PROTOCOL_TCP);
  request.set_port(static_cast<uint32_t>(1000 + k));
  request.set_note(absl::StrCat("rule ", k));
  v1::BlockRule rule;
  const grpc::Status status = stub.BlockDestination(&context, request, &rule);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return rule.rule_id();
}

// The test's own folder (secret, spool, service log), removed at the end.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/egress-failover-test-XXXXXX";
    path_ = mkdtemp(pattern) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code error;
    if (!path_.empty()) fs::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(DatabaseFailoverTest, PrimaryKilledDuringIngestLosesAndDoublesNoAcknowledgedCount) {
  ::egress::testing::AutoFailoverOptions formation_options;
  const char* defaults = std::getenv("EGRESS_FAILOVER_DEFAULT_TIMEOUTS");
  formation_options.fast_failover = defaults == nullptr || std::string(defaults) != "1";
  const absl::Time setup_started = absl::Now();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AutoFailoverFormation> formation,
                       AutoFailoverFormation::Start(formation_options));
  std::printf("failover: formation ready in %.1f s\n",
              absl::ToDoubleSeconds(absl::Now() - setup_started));
  ASSERT_OK_AND_ASSIGN(const int first_primary, formation->Primary());
  ASSERT_EQ(first_primary, 0);

  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string secret_path = dir.path() + "/token-secret";
  const std::string log_path = dir.path() + "/service.log";
  {
    std::ofstream secret(secret_path);
    secret << ::egress::testing::kTestTokenSecret;
  }
  const int port = ::egress::testing::FreeLoopbackTcpPort();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  const std::string conninfo = formation->MultiHostConnectionString();
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<ChildProcess> service,
      ChildProcess::Start({"/bin/sh", "-c", "exec \"$0\" \"$@\" >>" + log_path + " 2>&1",
                           EGRESS_SERVICE_BIN, "--listen=" + address, "--database=" + conninfo,
                           "--token-secret-file=" + secret_path, "--enrichment=false",
                           "--ingest-fold-interval=100ms", "--log-level=info"}));
  auto service_log = [&] { return ::egress::testing::ReadFileText(log_path); };

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(60)))
      << service_log();
  ASSERT_OK(::egress::testing::UpsertNode(channel, kNode)) << service_log();
  ASSERT_OK(::egress::testing::UpsertAccount(channel, kAccount, kNode, kUid));

  // The agent: its real uplink and spool, with the uplink's default
  // reconnection backoff.
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<agent::FileSpool> file_spool,
      agent::FileSpool::Create({dir.path() + "/spool", 64 << 20, agent::FsyncPolicy::kNever}));
  AckTimingSpool spool(std::move(file_spool));
  RuleKeepingListener listener;
  agent::GrpcUplinkOptions uplink_options;
  uplink_options.target = address;
  uplink_options.node_id = kNode;
  uplink_options.token = ::egress::testing::NodeToken(kNode);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<agent::GrpcUplink> uplink,
                       agent::GrpcUplink::Create(uplink_options, &spool, &listener));
  uplink->Start();

  // Streams a batch every 20 ms; remembers what each should count.
  absl::Mutex expected_mutex;
  std::map<uint32_t, uint64_t> expected;  // port -> count
  std::atomic<bool> stop_streaming{false};
  std::thread producer([&] {
    for (uint32_t i = 0; !stop_streaming.load(); ++i) {
      const uint32_t batch_port = 10000 + i;
      const uint64_t count = 1 + i % 7;
      v1::RecordBatch batch = Batch(batch_port, count);
      if (spool.Append(&batch, 0).ok()) {
        absl::MutexLock lock(&expected_mutex);
        expected[batch_port] = count;
      }
      uplink->BatchReady();
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  // A customer blocks a new destination every 200 ms; some calls fail
  // during the outage, those that succeed must reach the agent.
  auto connections = v1::ConnectionsService::NewStub(channel);
  absl::Mutex rules_mutex;
  std::vector<uint64_t> rules_made;
  std::atomic<int> rule_failures{0};
  std::atomic<bool> stop_rules{false};
  std::thread customer([&] {
    for (int k = 0; !stop_rules.load(); ++k) {
      absl::StatusOr<uint64_t> rule = BlockDestination(*connections, k);
      if (rule.ok()) {
        absl::MutexLock lock(&rules_mutex);
        rules_made.push_back(*rule);
      } else {
        ++rule_failures;
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  auto stop_threads = [&] {
    stop_streaming = true;
    stop_rules = true;
    if (producer.joinable()) producer.join();
    if (customer.joinable()) customer.join();
  };
  // Joins both threads however the test ends (an ASSERT returns early).
  struct StopOnExit {
    std::function<void()> stop;
    ~StopOnExit() { stop(); }
  } stop_on_exit{stop_threads};

  // Under way: acks flowing, then the primary's host dies.
  ASSERT_TRUE(spool.WaitForAcks(30, absl::Seconds(30))) << service_log();
  const uint64_t acks_before = spool.acks();
  const uint64_t disconnects_before = uplink->stats().disconnects;
  const absl::Time killed = absl::Now();
  ASSERT_OK(formation->KillNode(0));
  // Acks may still arrive for commits made just before the kill; the stream
  // breaks at the first commit that fails. Only acks after that count as
  // recovered.
  const absl::Time broken_deadline = absl::Now() + absl::Seconds(30);
  while (uplink->stats().disconnects == disconnects_before) {
    ASSERT_LT(absl::Now(), broken_deadline) << "the stream never noticed the dead primary";
    absl::SleepFor(absl::Milliseconds(5));
  }
  spool.Mark(absl::Now());

  absl::Time first_ack;
  ASSERT_TRUE(spool.WaitForAckAfterMark(absl::Seconds(90), &first_ack))
      << formation->Describe() << "\n"
      << service_log();
  const absl::Duration recovery = first_ack - killed;
  ASSERT_OK(formation->WaitForWritablePrimary(1, absl::Seconds(5)));
  ASSERT_OK_AND_ASSIGN(const absl::Time promoted, formation->PromotedAt(1));
  std::printf(
      "failover: %s, first ack %.1f s after the kill (%llu acks before it); the standby "
      "reported itself writable primary %.1f s after the kill\n",
      formation_options.fast_failover ? "runbook settings" : "pg_auto_failover defaults",
      absl::ToDoubleSeconds(recovery), static_cast<unsigned long long>(acks_before),
      absl::ToDoubleSeconds(promoted - killed));
  std::fflush(stdout);
  EXPECT_LT(recovery, formation_options.fast_failover ? absl::Seconds(60) : absl::Seconds(90));

  // After the failover: a new rule reaches the agent's live stream.
  absl::SleepFor(absl::Milliseconds(500));
  absl::StatusOr<uint64_t> after_rule = absl::UnavailableError("not tried");
  for (int attempt = 0; attempt < 20 && !after_rule.ok(); ++attempt) {
    after_rule = BlockDestination(*connections, 60000 + attempt);
    if (!after_rule.ok()) absl::SleepFor(absl::Milliseconds(250));
  }
  ASSERT_OK(after_rule.status()) << service_log();
  const absl::Time rule_made = absl::Now();
  EXPECT_TRUE(listener.WaitForRule(*after_rule, absl::Seconds(10)))
      << "a rule made after the failover did not reach the agent";
  std::printf("failover: rule made after it reached the agent in %.0f ms\n",
              absl::ToDoubleMilliseconds(absl::Now() - rule_made));

  // A little more ingest on the new primary, then drain.
  absl::SleepFor(absl::Seconds(1));
  stop_threads();
  ASSERT_TRUE(uplink->WaitForAcks(absl::Seconds(30))) << service_log();
  {
    absl::MutexLock lock(&rules_mutex);
    const std::set<uint64_t> held = listener.RuleIds();
    for (uint64_t rule : rules_made) {
      EXPECT_TRUE(held.contains(rule)) << "rule " << rule << " never reached the agent";
    }
    std::printf("failover: %zu rule changes made (%d refused during the outage)\n",
                rules_made.size(), rule_failures.load());
  }

  // Every batch counted exactly once, after the journal's last fold.
  pqxx::connection database(formation->NodeConnectionString(1));
  const absl::Time fold_deadline = absl::Now() + absl::Seconds(30);
  while (
      pqxx::nontransaction(database).exec("SELECT count(*) FROM ingest_journal")[0][0].as<int>() >
      0) {
    ASSERT_LT(absl::Now(), fold_deadline) << "the journal was not folded";
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::map<uint32_t, uint64_t> counted;
  for (const pqxx::row& row : pqxx::nontransaction(database).exec_params(
           "SELECT port, sum(count) FROM connection_daily WHERE account_id = $1 GROUP BY port",
           kAccount)) {
    counted[row[0].as<uint32_t>()] = row[1].as<uint64_t>();
  }
  uint64_t expected_sum = 0;
  uint64_t counted_sum = 0;
  for (const auto& [p, count] : expected) expected_sum += count;
  for (const auto& [p, count] : counted) counted_sum += count;
  std::printf("failover: %zu batches, %llu connections sent, %llu counted\n", expected.size(),
              static_cast<unsigned long long>(expected_sum),
              static_cast<unsigned long long>(counted_sum));
  EXPECT_EQ(counted_sum, expected_sum);
  EXPECT_EQ(counted, expected) << "a batch was lost or counted twice";

  uplink->Stop();
  service->Signal(SIGTERM);
  EXPECT_OK(service->Wait(absl::Seconds(20)).status());
}

}  // namespace
}  // namespace egress
