// The real binaries end to end: egress-service on a real PostgreSQL,
// administered with egressctl, stopped with SIGTERM.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace egress {
namespace {

using ::egress::testing::ChildProcess;
using ::egress::testing::CommandResult;
using ::egress::testing::FreshDatabase;
using ::egress::testing::RunCommand;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A token secret in a temporary file, removed at the end.
class SecretFile {
 public:
  SecretFile() {
    char pattern[] = "/tmp/egress-secret-XXXXXX";
    const int fd = mkstemp(pattern);
    path_ = pattern;
    const std::string secret = "integration-test-secret-0123456789abcdef";
    EXPECT_EQ(write(fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
    close(fd);
  }
  ~SecretFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServiceCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(
        service_, ChildProcess::Start({EGRESS_SERVICE_BIN, "--listen=127.0.0.1:0",
                                       "--database=" + FreshDatabase(), "--time-zone=Europe/Moscow",
                                       "--token-secret-file=" + secret_.path()}));
    ASSERT_OK_AND_ASSIGN(std::string line,
                         service_->WaitForLine("egress-service listening on ", absl::Seconds(30)));
    address_ = line.substr(line.rfind(' ') + 1);
    CommandResult token = RunCommand(
        {EGRESSCTL_BIN, "token", "--secret-file=" + secret_.path(), "--scope=admin", "ops"});
    ASSERT_EQ(token.exit_code, 0) << token.err;
    admin_token_ = token.out.substr(0, token.out.find('\n'));
  }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {EGRESSCTL_BIN, "--server=" + address_, "--token=" + admin_token_});
    return RunCommand(args);
  }

  SecretFile secret_;
  std::string admin_token_;
  std::unique_ptr<ChildProcess> service_;
  std::string address_;
};

TEST_F(ServiceCliTest, EgressctlCreatesANodeAndTwoAccountsAndListsThem) {
  CommandResult node = Ctl({"nodes", "upsert", "web-01", "--server-ipv4=198.51.100.10",
                            "--server-ipv6=2001:db8::10", "--exempt=10.0.0.0/8,192.0.2.53/32"});
  ASSERT_EQ(node.exit_code, 0) << node.err;
  EXPECT_THAT(node.out, AllOf(HasSubstr("web-01"), HasSubstr("10.0.0.0/8,192.0.2.53/32")));

  CommandResult alice = Ctl({"accounts", "upsert", "alice", "--node=web-01", "--uid=1001",
                             "--dedicated-ip=203.0.113.5@2024-05-01T10:00:00Z"});
  ASSERT_EQ(alice.exit_code, 0) << alice.err;
  CommandResult bob = Ctl({"accounts", "upsert", "bob", "--node=web-01", "--uid=1002"});
  ASSERT_EQ(bob.exit_code, 0) << bob.err;

  CommandResult table = Ctl({"accounts", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, AllOf(HasSubstr("ACCOUNT"), HasSubstr("alice"), HasSubstr("bob"),
                               HasSubstr("203.0.113.5@2024-05-01T10:00:00Z"), HasSubstr("1002")));

  CommandResult json = Ctl({"--output=json", "accounts", "list", "--node=web-01"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, AllOf(HasSubstr("\"accountId\": \"alice\""),
                              HasSubstr("\"accountId\": \"bob\""), HasSubstr("\"uid\": 1001")));

  CommandResult nodes = Ctl({"nodes", "list"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_THAT(nodes.out, HasSubstr("web-01"));
}

TEST_F(ServiceCliTest, ErrorsPrintTheStatusAndExitNonZero) {
  CommandResult missing = Ctl({"accounts", "upsert", "alice", "--node=web-404", "--uid=1001"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND: account.node_id: node \"web-404\""));

  CommandResult invalid = Ctl({"nodes", "upsert", "web-01", "--exempt=1.2.3.4/33"});
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_THAT(invalid.err, HasSubstr("INVALID_ARGUMENT: node.exempt_networks[0]"));

  CommandResult usage = Ctl({"accounts", "upsert", "alice", "--uid=1001"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--node is required"));

  CommandResult unknown = Ctl({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command"));

  CommandResult unreachable =
      RunCommand({EGRESSCTL_BIN, "--server=127.0.0.1:1", "--timeout=2s", "nodes", "list"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.err, HasSubstr("UNAVAILABLE"));
}

TEST_F(ServiceCliTest, CallsWithoutAValidTokenAreRefused) {
  CommandResult none = RunCommand({EGRESSCTL_BIN, "--server=" + address_, "nodes", "list"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED"));
  CommandResult panel = RunCommand(
      {EGRESSCTL_BIN, "token", "--secret-file=" + secret_.path(), "--scope=panel", "alice"});
  ASSERT_EQ(panel.exit_code, 0) << panel.err;
  CommandResult denied =
      RunCommand({EGRESSCTL_BIN, "--server=" + address_,
                  "--token=" + panel.out.substr(0, panel.out.find('\n')), "nodes", "list"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED"));
  CommandResult bad_scope = RunCommand(
      {EGRESSCTL_BIN, "token", "--secret-file=" + secret_.path(), "--scope=root", "alice"});
  EXPECT_EQ(bad_scope.exit_code, 2);
  EXPECT_THAT(bad_scope.err, HasSubstr("unknown scope"));
}

TEST_F(ServiceCliTest, HealthAndReflectionAnswer) {
  CommandResult health = Ctl({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ(health.out, "SERVING\n");
  CommandResult services = Ctl({"services"});
  EXPECT_EQ(services.exit_code, 0) << services.err;
  EXPECT_THAT(services.out,
              AllOf(HasSubstr("egress.v1.AccountsService\n"), HasSubstr("egress.v1.AbuseService\n"),
                    HasSubstr("grpc.health.v1.Health\n"),
                    HasSubstr("grpc.reflection.v1alpha.ServerReflection\n")));
}

TEST_F(ServiceCliTest, AbuseFindPrintsATableOrJsonAndRefusesBadInput) {
  CommandResult table = Ctl({"abuse", "find", "203.0.113.0/24", "--protocol=tcp", "--port=25"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out,
              AllOf(HasSubstr("DATE"), HasSubstr("EGRESS_ADDRESS"), HasSubstr("0 match(es)")));
  CommandResult json = Ctl({"--output=json", "abuse", "find", "203.0.113.7"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(absl::StripAsciiWhitespace(json.out), "{}");
  CommandResult wide = Ctl({"abuse", "find", "10.0.0.0/8"});
  EXPECT_EQ(wide.exit_code, 1);
  EXPECT_THAT(wide.err, AllOf(HasSubstr("INVALID_ARGUMENT"), HasSubstr("destination")));
  CommandResult dates = Ctl({"abuse", "find", "203.0.113.7", "--from=2026-13-01"});
  EXPECT_EQ(dates.exit_code, 2);
  EXPECT_THAT(dates.err, HasSubstr("--from"));
  CommandResult usage = Ctl({"abuse", "find"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("DESTINATION"));
}

TEST_F(ServiceCliTest, SigtermStopsCleanly) {
  service_->Signal(SIGTERM);
  ASSERT_OK_AND_ASSIGN(int code, service_->Wait(absl::Seconds(20)));
  EXPECT_EQ(code, 0);
  EXPECT_THAT(service_->err(), AllOf(HasSubstr("event=shutting_down"), HasSubstr("event=stopped")));
}

TEST(ServiceFlagsTest, HelpExplainsTheFlags) {
  CommandResult help = RunCommand({EGRESS_SERVICE_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out + help.err,
              AllOf(HasSubstr("--database"), HasSubstr("--listen"), HasSubstr("--time_zone"),
                    HasSubstr("PostgreSQL connection string")));
  CommandResult ctl_help = RunCommand({EGRESSCTL_BIN, "--help"});
  EXPECT_EQ(ctl_help.exit_code, 0);
  EXPECT_THAT(ctl_help.out + ctl_help.err,
              AllOf(HasSubstr("accounts upsert"), HasSubstr("--dedicated_ip")));
}

TEST(ServiceFlagsTest, BadConfigurationIsRefusedWithTheFlagNamed) {
  SecretFile secret;
  const std::string secret_flag = "--token-secret-file=" + secret.path();
  CommandResult zone = RunCommand({EGRESS_SERVICE_BIN, "--database=host=/nowhere",
                                   "--time-zone=Mars/Olympus_Mons", secret_flag});
  EXPECT_EQ(zone.exit_code, 2);
  EXPECT_THAT(zone.err, HasSubstr("--time-zone"));
  CommandResult no_db = RunCommand({EGRESS_SERVICE_BIN, secret_flag});
  EXPECT_EQ(no_db.exit_code, 2);
  EXPECT_THAT(no_db.err, HasSubstr("--database is empty"));
  CommandResult no_secret = RunCommand({EGRESS_SERVICE_BIN, "--database=host=/nowhere"});
  EXPECT_EQ(no_secret.exit_code, 2);
  EXPECT_THAT(no_secret.err, HasSubstr("--token-secret-file"));
  CommandResult short_secret =
      RunCommand({EGRESS_SERVICE_BIN, "--database=host=/nowhere", "--token-secret-file=/dev/null"});
  EXPECT_EQ(short_secret.exit_code, 2);
  EXPECT_THAT(short_secret.err, HasSubstr("at least 32 bytes"));
  for (const std::string& flag :
       {std::string("--ingest-journal-max-backlog=99999"),
        std::string("--ingest-fold-interval=5ms"), std::string("--ingest-fold-interval=2m")}) {
    CommandResult refused = RunCommand(
        {EGRESS_SERVICE_BIN, "--database=host=/nowhere", flag, "--database-wait=0s", secret_flag});
    EXPECT_EQ(refused.exit_code, 2) << flag;
    EXPECT_THAT(refused.err, HasSubstr(flag.substr(0, flag.find('=')))) << flag;
  }
  CommandResult unreachable = RunCommand(
      {EGRESS_SERVICE_BIN, "--database=host=/nowhere", "--database-wait=0s", secret_flag});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.err,
              AllOf(HasSubstr("database_connect_failed"), Not(HasSubstr("listening"))));
}

}  // namespace
}  // namespace egress
