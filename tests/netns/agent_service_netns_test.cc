// The agent and the real service together: egress-agent inside a network
// namespace, streaming over a unix socket to an in-process egress-service on
// a real PostgreSQL. Connections made by test users end up in PostgreSQL as
// exact counts; a block made through the panel API reaches the kernel; the
// agent killed with SIGKILL and restarted loses and doubles nothing.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
constexpr uint32_t kUidA = 2001;
constexpr uint32_t kUidB = 2002;

class AgentServiceNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the netns tier must run as root";
    ASSERT_OK_AND_ASSIGN(net_, NetnsPair::Create());
    char tmpl[] = "/tmp/egress-agent-service-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_OK_AND_ASSIGN(tcp443_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kTcp, 443));
    ASSERT_OK_AND_ASSIGN(udp53_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kUdp, 53));
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
    node.mutable_node()->set_node_id("test-node");
    node.mutable_node()->add_exempt_networks(absl::StrCat(kRemoteExempt, "/32"));
    v1::Node node_out;
    grpc::ClientContext node_context;
    Authorize(&node_context, AdminToken());
    ASSERT_TRUE(admin->UpsertNode(&node_context, node, &node_out).ok());
    for (const auto& [id, uid] : {std::pair<std::string, uint32_t>{"acct-a", kUidA},
                                  std::pair<std::string, uint32_t>{"acct-b", kUidB}}) {
      v1::UpsertAccountRequest account;
      account.mutable_account()->set_account_id(id);
      account.mutable_account()->set_node_id("test-node");
      account.mutable_account()->set_uid(uid);
      v1::Account out;
      grpc::ClientContext context;
      Authorize(&context, AdminToken());
      ASSERT_TRUE(admin->UpsertAccount(&context, account, &out).ok());
    }
    std::ofstream(dir_ + "/node.token") << NodeToken("test-node") << "\n";
  }

  void TearDown() override {
    agent_.reset();
    server_.reset();
    tcp443_.reset();
    udp53_.reset();
    net_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void StartAgent(const std::string& service = "", const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        "/usr/sbin/ip",
        "netns",
        "exec",
        net_->node(),
        EGRESS_AGENT_PATH,
        "--node-id=test-node",
        "--service=" + (service.empty() ? "unix:" + dir_ + "/service.sock" : service),
        "--token-file=" + dir_ + "/node.token",
        "--state-dir=" + dir_ + "/state",
        "--batch-interval=100ms",
        "--spool-fsync=never",
        "--shutdown-grace=3s",
        "--reconnect-max-backoff=500ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_OK_AND_ASSIGN(agent_, ChildProcess::Start(argv));
    auto ready = agent_->WaitForLine("egress-agent ready", absl::Seconds(20));
    ASSERT_TRUE(ready.ok()) << ready.status() << "\nstderr:\n" << agent_->err();
  }

  // Collects the agent's output for `d` (it prints nothing else on stdout).
  void Pump(absl::Duration d) { (void)agent_->WaitForLine("<never>", d); }

  void StopAgent() {
    agent_->Signal(SIGTERM);
    auto code = agent_->Wait(absl::Seconds(15));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << agent_->err();
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    pqxx::result result = work.exec(sql);
    return result.empty() || result[0][0].is_null() ? 0 : result[0][0].as<int64_t>();
  }

  // Waits until `sql` yields `want` (or 30 s), returns the last value.
  int64_t WaitFor(const std::string& sql, int64_t want) {
    int64_t value = -1;
    for (int i = 0; i < 300; ++i) {
      value = Scalar(sql);
      if (value == want) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return value;
  }

  static std::string Sum(const std::string& account, int action) {
    return absl::StrCat("SELECT sum(count) FROM connection_daily WHERE account_id = '", account,
                        "' AND action = ", action);
  }

  std::unique_ptr<NetnsPair> net_;
  std::string dir_;
  std::unique_ptr<RemoteListener> tcp443_, udp53_;
  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ChildProcess> agent_;
};

TEST_F(AgentServiceNetnsTest, ConnectionsBlocksAndRestartsEndToEnd) {
  StartAgent();
  // The agent applied the service's rule set (Welcome).
  ASSERT_GT(WaitFor("SELECT applied_rule_version FROM nodes", 3), 0);

  auto a = AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 20);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ok, 20);
  auto b = AttemptsAs(net_->node(), kUidB, false, kRemoteY, 53, 7);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ok, 7);
  EXPECT_EQ(WaitFor(Sum("acct-a", 1), 20), 20);
  EXPECT_EQ(WaitFor(Sum("acct-b", 1), 7), 7);
  EXPECT_EQ(Scalar("SELECT (host(ip) = '" + std::string(kRemoteX) +
                   "' AND port = 443 AND protocol = 6)::int FROM connection_daily WHERE "
                   "account_id = 'acct-a'"),
            1);

  // The owner blocks X:443/tcp in the panel; the node enforces it.
  auto panel = v1::ConnectionsService::NewStub(channel_);
  v1::BlockDestinationRequest block;
  block.set_account_id("acct-a");
  block.set_destination(kRemoteX);
  block.set_protocol(v1::PROTOCOL_TCP);
  block.set_port(443);
  v1::BlockRule rule;
  grpc::ClientContext block_context;
  Authorize(&block_context, PanelToken("acct-a"));
  ASSERT_TRUE(panel->BlockDestination(&block_context, block, &rule).ok());
  // The node confirmed acct-a's latest version as applied.
  EXPECT_EQ(WaitFor("SELECT (p.version >= a.rule_version)::int FROM accounts a "
                    "JOIN account_rules_applied p USING (account_id) "
                    "WHERE a.account_id = 'acct-a'",
                    1),
            1);
  auto blocked = AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 5);
  ASSERT_TRUE(blocked.ok());
  EXPECT_EQ(blocked->refused, 5);
  auto other = AttemptsAs(net_->node(), kUidB, true, kRemoteX, 443, 3);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->ok, 3);
  EXPECT_EQ(WaitFor(Sum("acct-a", 2), 5), 5);

  // kill -9 mid-stream, connections while it is down, restart: exact.
  auto more = AttemptsAs(net_->node(), kUidB, false, kRemoteY, 53, 4);
  ASSERT_TRUE(more.ok());
  agent_->Signal(SIGKILL);
  ASSERT_TRUE(agent_->Wait(absl::Seconds(10)).ok());
  auto down = AttemptsAs(net_->node(), kUidB, true, kRemoteX, 443, 6);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->ok, 6);  // blocks of acct-a stay, acct-b is free
  StartAgent();
  EXPECT_EQ(WaitFor(Sum("acct-b", 1), 7 + 3 + 4 + 6), 7 + 3 + 4 + 6);
  absl::SleepFor(absl::Seconds(1));  // nothing arrives twice later
  EXPECT_EQ(Scalar(Sum("acct-b", 1)), 7 + 3 + 4 + 6);
  EXPECT_EQ(Scalar(Sum("acct-a", 1)), 20);
  EXPECT_EQ(Scalar(Sum("acct-a", 2)), 5);
  EXPECT_EQ(Scalar("SELECT count(*) FROM node_day_losses"), 0);
}

// A temporary block through the real service: enforced by the node, ended
// by the kernel at the expiry, then deleted and audited by the service's
// sweep, and the smaller rule set applied by the node (the expired element
// is not deleted again, so the delta applies).
TEST_F(AgentServiceNetnsTest, TemporaryBlockEndsOnTimeEndToEnd) {
  StartAgent();
  ASSERT_EQ(WaitFor("SELECT (applied_rule_version > 0)::int FROM nodes", 1), 1);
  auto panel = v1::ConnectionsService::NewStub(channel_);
  v1::BlockDestinationRequest block;
  block.set_account_id("acct-a");
  block.set_destination(kRemoteX);
  block.set_protocol(v1::PROTOCOL_TCP);
  block.set_port(443);
  const absl::Time expiry = absl::Now() + absl::Seconds(4);
  block.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(expiry));
  v1::BlockRule rule;
  grpc::ClientContext block_context;
  Authorize(&block_context, PanelToken("acct-a"));
  ASSERT_TRUE(panel->BlockDestination(&block_context, block, &rule).ok());
  const absl::Time until = absl::FromUnixSeconds(rule.expire_time().seconds());
  const std::string enforced =
      "SELECT (p.version >= a.rule_version)::int FROM accounts a "
      "JOIN account_rules_applied p USING (account_id) WHERE a.account_id = 'acct-a'";
  EXPECT_EQ(WaitFor(enforced, 1), 1);
  auto blocked = AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 2);
  ASSERT_TRUE(blocked.ok());
  ASSERT_LT(absl::Now(), until) << "the test machine is too slow for a 4 s expiry";
  EXPECT_EQ(blocked->refused, 2);

  absl::Time opened = absl::InfiniteFuture();
  while (absl::Now() < until + absl::Seconds(5)) {
    auto attempt = AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 1);
    if (attempt.ok() && attempt->ok == 1) {
      opened = absl::Now();
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::printf("the node let connections through %.0f ms after the expiry\n",
              absl::ToDoubleMilliseconds(opened - until));
  EXPECT_LT(opened - until, absl::Milliseconds(500));
  EXPECT_GT(opened - until, -absl::Milliseconds(50));
  EXPECT_EQ(WaitFor("SELECT count(*) FROM block_rules", 0), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_log WHERE action = 'block_rule.expire' AND "
                   "actor = 'expiry'"),
            1);
  // The node applied the rule set without it (its version confirmed).
  EXPECT_EQ(WaitFor(enforced, 1), 1);
  EXPECT_EQ(Scalar("SELECT count(*) FROM nodes WHERE apply_error <> ''"), 0);
}

// A wiped spool (a new disk for it, a reinstall keeping the persisted
// rules): the new spool numbers its batches from 1 while the service has
// committed more for the node. The batches sealed before the first Welcome
// must not be taken as committed. (With the whole state directory gone the
// agent knows no accounts before the Welcome, so it records nothing then.)
TEST_F(AgentServiceNetnsTest, WipedSpoolLosesNothing) {
  StartAgent();
  ASSERT_GT(WaitFor("SELECT applied_rule_version FROM nodes", 3), 0);
  ASSERT_EQ(AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 12)->ok, 12);
  EXPECT_EQ(WaitFor(Sum("acct-a", 1), 12), 12);
  StopAgent();
  const int64_t committed = Scalar("SELECT last_seq FROM ingest_sequences");
  ASSERT_GE(committed, 1);

  // Service unreachable while the new agent counts: several batches are
  // sealed into the fresh spool, numbered 1.. .
  std::filesystem::remove_all(dir_ + "/state/spool");
  StartAgent("unix:" + dir_ + "/nowhere.sock");
  ASSERT_EQ(AttemptsAs(net_->node(), kUidB, false, kRemoteY, 53, 5)->ok, 5);
  Pump(absl::Milliseconds(300));
  ASSERT_EQ(AttemptsAs(net_->node(), kUidB, true, kRemoteX, 443, 4)->ok, 4);
  StopAgent();
  StartAgent();
  EXPECT_EQ(WaitFor(Sum("acct-b", 1), 9), 9) << agent_->err();
  EXPECT_EQ(Scalar(Sum("acct-a", 1)), 12);
  EXPECT_GT(Scalar("SELECT last_seq FROM ingest_sequences"), committed);
  Pump(absl::Milliseconds(500));
  EXPECT_EQ(Scalar(Sum("acct-b", 1)), 9);
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("spool_renumbered"));
}

// The agent's counters reach the service in Hello and every
// --stats-interval, and ops read them from AccountsService.GetNode.
TEST_F(AgentServiceNetnsTest, AgentStatsAreStoredAndVisible) {
  // conntrack_events_sysctl is the conntrack source's (the default counts
  // accepted connections in the kernel's sets and needs no events).
  StartAgent("", {"--stats-interval=200ms", "--accept-source=conntrack"});
  // Accounts are known (connections marked) once the Welcome's rules apply.
  ASSERT_GT(WaitFor("SELECT applied_rule_version FROM nodes", 3), 0);
  ASSERT_EQ(AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 6)->ok, 6);
  EXPECT_EQ(WaitFor(Sum("acct-a", 1), 6), 6);
  EXPECT_EQ(WaitFor("SELECT conntrack_events FROM node_agent_stats WHERE node_id = 'test-node'", 6),
            6);
  EXPECT_EQ(WaitFor("SELECT (batches_acked > 0 AND records > 0 AND applied_rule_version > 0 "
                    "AND conntrack_events_sysctl > 0)::int FROM node_agent_stats",
                    1),
            1);
  auto admin = v1::AccountsService::NewStub(channel_);
  v1::GetNodeRequest request;
  request.set_node_id("test-node");
  v1::Node node;
  grpc::ClientContext context;
  Authorize(&context, AdminToken());
  ASSERT_TRUE(admin->GetNode(&context, request, &node).ok());
  EXPECT_EQ(node.agent_stats().conntrack_events(), 6u);
  EXPECT_GT(node.agent_stats().applied_rule_version(), 0u);
  EXPECT_EQ(node.agent_stats().nft_errors(), 0u);
  EXPECT_GT(node.agent_stats_time().seconds(), 0);
  EXPECT_FALSE(node.agent_version().empty());
}

// TLS with client certificates between the real agent and the real service
// (over a unix socket into the node namespace; the server certificate names
// localhost, the authority gRPC uses for unix: targets).
TEST_F(AgentServiceNetnsTest, MutualTlsUplinkCommitsAndRefusesAWrongClientCertificate) {
  const std::string d = dir_ + "/pki";
  std::filesystem::create_directories(d);
  auto openssl = [](const std::string& args) {
    CommandResult result = RunCommand({"/bin/sh", "-c", "openssl " + args + " 2>&1"});
    ASSERT_EQ(result.exit_code, 0) << args << "\n" << result.out;
  };
  for (const std::string ca : {"ca", "other-ca"}) {
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=egress-" + ca + " -keyout " + d +
            "/" + ca + ".key -out " + d + "/" + ca + ".pem");
  }
  // The node's certificate names the node (the service may match it to the
  // node id); the intruder's names it too but comes from another CA.
  for (const auto& [name, ca] : {std::pair<std::string, std::string>{"server", "ca"},
                                 {"test-node", "ca"},
                                 {"intruder", "other-ca"}}) {
    const std::string cn = name == "server" ? "server" : "test-node";
    openssl("req -newkey rsa:2048 -nodes -subj /CN=" + cn + " -keyout " + d + "/" + name +
            ".key -out " + d + "/" + name + ".csr");
    std::ofstream(d + "/" + name + ".ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    openssl("x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/" + ca + ".pem -CAkey " + d +
            "/" + ca + ".key -CAcreateserial -days 2 -extfile " + d + "/" + name + ".ext -out " +
            d + "/" + name + ".pem");
  }
  ServerOptions options;
  options.listen_address = "unix:" + dir_ + "/tls.sock";
  options.tls_cert_file = d + "/server.pem";
  options.tls_key_file = d + "/server.key";
  options.tls_client_ca_file = d + "/ca.pem";
  ServerDependencies deps{database_.get(), &TestSigner()};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EgressServer> tls_server,
                       EgressServer::Start(options, deps));
  const std::string target = "unix:" + dir_ + "/tls.sock";

  const std::vector<std::string> node_cert = {"--tls-ca-file=" + d + "/ca.pem",
                                              "--tls-cert-file=" + d + "/test-node.pem",
                                              "--tls-key-file=" + d + "/test-node.key"};

  // The node's own certificate: Welcome, rules, batches committed.
  StartAgent(target, node_cert);
  ASSERT_GT(WaitFor("SELECT applied_rule_version FROM nodes", 3), 0) << agent_->err();
  ASSERT_EQ(AttemptsAs(net_->node(), kUidB, false, kRemoteY, 53, 4)->ok, 4);
  EXPECT_EQ(WaitFor(Sum("acct-b", 1), 4), 4) << agent_->err();
  StopAgent();
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("uplink_welcome"));

  // A client certificate from another CA: the handshake fails and nothing
  // is committed; the batches wait in the spool (the persisted rules still
  // attribute the connections).
  StartAgent(target, {"--tls-ca-file=" + d + "/ca.pem", "--tls-cert-file=" + d + "/intruder.pem",
                      "--tls-key-file=" + d + "/intruder.key"});
  ASSERT_EQ(AttemptsAs(net_->node(), kUidA, true, kRemoteX, 443, 3)->ok, 3);
  Pump(absl::Seconds(2));
  EXPECT_EQ(Scalar(Sum("acct-a", 1)), 0);
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("uplink_disconnected"));
  EXPECT_THAT(agent_->err(), ::testing::Not(::testing::HasSubstr("uplink_welcome")));
  StopAgent();

  // The right certificate again: what was spooled meanwhile commits, once.
  StartAgent(target, node_cert);
  EXPECT_EQ(WaitFor(Sum("acct-a", 1), 3), 3) << agent_->err();
  StopAgent();
  EXPECT_EQ(Scalar(Sum("acct-a", 1)), 3);
  EXPECT_EQ(Scalar(Sum("acct-b", 1)), 4);
  tls_server.reset();
}

}  // namespace
}  // namespace egress::testing
