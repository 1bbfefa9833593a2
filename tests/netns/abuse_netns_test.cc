// Outbound abuse detection with real connections: egress-agent in a network
// namespace streams to an in-process egress-service on a real PostgreSQL. An
// account's uid sending a burst of SMTP connections is locked on the SMTP
// ports within 10 s of the burst, its next SMTP attempts are refused by the
// kernel while its HTTPS and the other account's SMTP keep working; the
// customer cannot lift the lock, support can, and SMTP works again.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "tests/netns/netns_env.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

namespace v1 = ::egress::v1;
constexpr uint32_t kUidSpammer = 2101;
constexpr uint32_t kUidNeighbour = 2102;

class AbuseNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the netns tier must run as root";
    ASSERT_OK_AND_ASSIGN(net_, NetnsPair::Create());
    char tmpl[] = "/tmp/egress-abuse-netns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_OK_AND_ASSIGN(smtp_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kTcp, 25));
    ASSERT_OK_AND_ASSIGN(https_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kTcp, 443));
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    ServerOptions server_options;
    server_options.listen_address = "unix:" + dir_ + "/service.sock";
    ServerDependencies deps{database_.get(), &TestSigner()};
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(server_options, deps));
    channel_ =
        grpc::CreateChannel(server_options.listen_address, grpc::InsecureChannelCredentials());
    auto admin = v1::AccountsService::NewStub(channel_);
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id("mail-node");
    v1::Node node_out;
    grpc::ClientContext node_context;
    Authorize(&node_context, AdminToken());
    ASSERT_TRUE(admin->UpsertNode(&node_context, node, &node_out).ok());
    for (const auto& [id, uid] : {std::pair<std::string, uint32_t>{"spammer", kUidSpammer},
                                  std::pair<std::string, uint32_t>{"neighbour", kUidNeighbour}}) {
      v1::UpsertAccountRequest account;
      account.mutable_account()->set_account_id(id);
      account.mutable_account()->set_node_id("mail-node");
      account.mutable_account()->set_uid(uid);
      v1::Account out;
      grpc::ClientContext context;
      Authorize(&context, AdminToken());
      ASSERT_TRUE(admin->UpsertAccount(&context, account, &out).ok());
    }
    std::ofstream(dir_ + "/node.token") << NodeToken("mail-node") << "\n";
    std::vector<std::string> argv = {"/usr/sbin/ip",
                                     "netns",
                                     "exec",
                                     net_->node(),
                                     EGRESS_AGENT_PATH,
                                     "--node-id=mail-node",
                                     "--service=unix:" + dir_ + "/service.sock",
                                     "--token-file=" + dir_ + "/node.token",
                                     "--state-dir=" + dir_ + "/state",
                                     "--spool-fsync=never",
                                     "--shutdown-grace=3s",
                                     "--reconnect-max-backoff=500ms"};
    ASSERT_OK_AND_ASSIGN(agent_, ChildProcess::Start(argv));
    auto ready = agent_->WaitForLine("egress-agent ready", absl::Seconds(20));
    ASSERT_TRUE(ready.ok()) << ready.status() << "\nstderr:\n" << agent_->err();
  }

  void TearDown() override {
    agent_.reset();
    server_.reset();
    smtp_.reset();
    https_.reset();
    net_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    pqxx::result result = work.exec(sql);
    return result.empty() || result[0][0].is_null() ? 0 : result[0][0].as<int64_t>();
  }

  // The account's abuse lock is in force and its node confirmed the
  // account's latest rules.
  bool LockEnforced(const std::string& account) {
    return Scalar(absl::StrCat(
               "SELECT count(*) FROM accounts a JOIN account_rules_applied p USING (account_id) "
               "WHERE a.account_id = '",
               account,
               "' AND p.version >= a.rule_version AND EXISTS (SELECT 1 FROM "
               "account_locks l WHERE l.account_id = a.account_id AND l.kind = 3)")) == 1;
  }

  grpc::Status Lift(const std::string& token, const std::string& note) {
    v1::LiftAbuseLockRequest request;
    request.set_account_id("spammer");
    request.set_note(note);
    v1::AccountStatus status;
    grpc::ClientContext context;
    Authorize(&context, token);
    return v1::AbuseService::NewStub(channel_)->LiftAbuseLock(&context, request, &status);
  }

  std::unique_ptr<NetnsPair> net_;
  std::string dir_;
  std::unique_ptr<RemoteListener> smtp_, https_;
  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ChildProcess> agent_;
};

TEST_F(AbuseNetnsTest, SmtpBurstIsLockedOnTheNodeWithinTenSecondsNeighbourUntouched) {
  // The agent applied the service's rule set (uid marks, sets): connections
  // are attributed from here on.
  for (int i = 0; i < 300 && Scalar("SELECT applied_rule_version FROM nodes") == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_GT(Scalar("SELECT applied_rule_version FROM nodes"), 0) << agent_->err();
  // The neighbour sends a little mail of its own: under the limit.
  auto neighbour = AttemptsAs(net_->node(), kUidNeighbour, true, kRemoteY, 25, 10);
  ASSERT_TRUE(neighbour.ok()) << neighbour.status();
  EXPECT_EQ(neighbour->ok, 10);
  // A spam run: 150 SMTP connections (the default limit is 100 per 10 min).
  const absl::Time burst = absl::Now();
  auto spam = AttemptsAs(net_->node(), kUidSpammer, true, kRemoteX, 25, 150);
  ASSERT_TRUE(spam.ok()) << spam.status();
  EXPECT_EQ(spam->ok, 150);
  absl::Duration took = absl::InfiniteDuration();
  while (absl::Now() - burst < absl::Seconds(15)) {
    if (LockEnforced("spammer")) {
      took = absl::Now() - burst;
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::printf("abuse netns: burst start -> lock applied on the node in %.0f ms\n",
              absl::ToDoubleMilliseconds(took));
  ASSERT_LT(took, absl::Seconds(10))
      << "SMTP connections recorded: " << Scalar("SELECT sum(records) FROM ingest_journal")
      << " journal records, " << Scalar("SELECT sum(count) FROM connection_daily WHERE port = 25")
      << " folded\n"
      << agent_->err();

  // The kernel refuses the spammer's SMTP, nothing else.
  auto again = AttemptsAs(net_->node(), kUidSpammer, true, kRemoteX, 25, 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->refused, 5);
  auto submission = AttemptsAs(net_->node(), kUidSpammer, true, kRemoteY, 587, 2);
  ASSERT_TRUE(submission.ok());
  EXPECT_EQ(submission->refused, 2);
  auto web = AttemptsAs(net_->node(), kUidSpammer, true, kRemoteX, 443, 3);
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web->ok, 3);
  auto other = AttemptsAs(net_->node(), kUidNeighbour, true, kRemoteX, 25, 5);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->ok, 5);
  EXPECT_EQ(Scalar("SELECT count(*) FROM account_locks WHERE account_id = 'neighbour'"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM abuse_incidents WHERE account_id = 'spammer'"), 1);

  // The customer cannot lift it; support can, with a note; SMTP works again.
  EXPECT_EQ(Lift(PanelToken("spammer"), "done").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Lift(AdminToken(), "compromised script removed (ticket 99)").ok());
  bool open = false;
  for (int i = 0; i < 100 && !open; ++i) {
    auto attempt = AttemptsAs(net_->node(), kUidSpammer, true, kRemoteX, 25, 1);
    ASSERT_TRUE(attempt.ok());
    open = attempt->ok == 1;
    if (!open) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(open) << "SMTP still refused after the lift";
}

}  // namespace
}  // namespace egress::testing
