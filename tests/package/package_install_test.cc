// The Debian packages on this machine, as ops would use them on a node:
// scripts/build-packages.sh builds them (lintian-clean) from the test
// build's binaries; dpkg installs them into the real root file system; the
// units they install run from their ExecStart= lines (SystemdStandIn plays
// systemd, the maintainer scripts' restarts included) inside the test's node
// namespace, on a PostgreSQL this test starts. Counts of real connections
// reach PostgreSQL and come back through the installed gateway; the agent is
// upgraded to a rebuilt, higher version while its spool holds batches the
// stopped service never acknowledged, and once the service is upgraded and
// back the counts are exact. Remove keeps the state, purge leaves nothing.
//
// It refuses (fails, touching nothing) on a machine where egress is already
// installed, and removes everything it made, even after a failure.
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/netns/netns_env.h"
#include "tests/package/systemd_stand_in.h"
#include "tests/support/files.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace egress::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::vector<std::string> kPackages = {"egress-agent", "egress-service", "egressctl",
                                            "egress-gateway"};
constexpr char kAgentUnit[] = "egress-agent.service";
constexpr char kServiceUnit[] = "egress-service.service";
constexpr char kGatewayUnit[] = "egress-gateway.service";
constexpr char kNode[] = "pkg-node";
constexpr char kAccount[] = "pkg-alice";
constexpr uint32_t kUid = 2101;
constexpr char kServiceSocket[] = "unix:/run/egress/service.sock";
// What the packages and their units make outside the package's file list.
const std::vector<std::string> kStatePaths = {"/etc/egress", "/var/lib/egress-agent",
                                              "/run/egress"};

CommandResult Sh(const std::string& command, absl::Duration timeout = absl::Seconds(60)) {
  return RunCommand({"/bin/sh", "-c", command}, timeout);
}

std::string PackageStatus(const std::string& package) {
  CommandResult r =
      RunCommand({"/usr/bin/dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", package});
  return r.exit_code == 0 ? std::string(absl::StripAsciiWhitespace(r.out)) : "unknown";
}

// Replaces the line of flag `name` (commented out or not) in an Abseil flag
// file, or appends it: what an admin does with the conffile.
void SetFlag(const std::string& path, const std::string& name, const std::string& value) {
  std::vector<std::string> lines = absl::StrSplit(ReadFileText(path), '\n');
  const std::string line = absl::StrCat("--", name, "=", value);
  bool replaced = false;
  for (std::string& existing : lines) {
    if (absl::StartsWith(existing, absl::StrCat("--", name, "=")) ||
        absl::StartsWith(existing, absl::StrCat("#--", name, "="))) {
      existing = replaced ? "" : line;
      replaced = true;
    }
  }
  if (!replaced) lines.insert(lines.end() - 1, line);
  std::ofstream(path) << absl::StrJoin(lines, "\n");
}

// The .deb files (not the -dbgsym .ddeb) of a build-packages.sh output.
std::vector<std::string> Debs(const std::string& dir) {
  std::vector<std::string> debs;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".deb" &&
        !absl::StrContains(entry.path().filename().string(), "-dbgsym_")) {
      debs.push_back(entry.path());
    }
  }
  std::sort(debs.begin(), debs.end());
  return debs;
}

std::string DebOf(const std::vector<std::string>& debs, const std::string& package) {
  for (const std::string& deb : debs) {
    if (absl::StartsWith(fs::path(deb).filename().string(), package + "_")) return deb;
  }
  return "";
}

// One HTTP/1.1 POST inside network namespace `ns`; the whole response.
absl::StatusOr<std::string> HttpPost(const std::string& ns, uint16_t port, const std::string& path,
                                     const std::string& token, const std::string& body) {
  absl::StatusOr<int> fd = SocketIn(ns, AF_INET, SOCK_STREAM);
  if (!fd.ok()) return fd.status();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(*fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(*fd);
    return absl::UnavailableError(absl::StrCat("connect 127.0.0.1:", port, " in ", ns));
  }
  const std::string request =
      absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                   "Content-Type: application/json\r\nAuthorization: Bearer ", token,
                   "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  if (send(*fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(*fd);
    return absl::UnavailableError("send");
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(*fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  close(*fd);
  return response;
}

class PackageInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the package tier installs packages: it must run as root";
    // Never clobber a real installation: refuse, touching nothing. (A run
    // killed before its TearDown leaves the same state: then `dpkg --purge
    // egress-agent egress-service egressctl egress-gateway; userdel egress`.)
    for (const std::string& package : kPackages) {
      const std::string status = PackageStatus(package);
      ASSERT_TRUE(status == "unknown" || absl::StartsWith(status, "un"))
          << package << " is already on this machine (" << status
          << "): the package test would replace and purge it";
    }
    for (const std::string& path : kStatePaths) {
      ASSERT_FALSE(fs::exists(path)) << path << " exists: the package test would delete it";
    }
    ASSERT_EQ(getpwnam("egress"), nullptr) << "a user egress exists: the test would delete it";
    owns_machine_state_ = true;

    char tmpl[] = "/tmp/egress-package-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_OK_AND_ASSIGN(net_, NetnsPair::Create());
    ASSERT_OK_AND_ASSIGN(systemd_, SystemdStandIn::Create(dir_ + "/systemd", net_->node()));
    // The service (user egress) reaches PostgreSQL's socket in its folder.
    ASSERT_OK_AND_ASSIGN(postgres_, PostgresCluster::Start());
    ASSERT_EQ(chmod(postgres_->socket_dir().c_str(), 0755), 0);
    ASSERT_OK(postgres_->CreateDatabase("egress"));
  }

  void TearDown() override {
    if (!owns_machine_state_) return;
    if (systemd_ != nullptr) {
      // Through the stand-in: the agent's prerm acts on the node namespace.
      std::vector<std::string> purge = {"--purge"};
      for (const std::string& package : kPackages) {
        if (PackageStatus(package) != "unknown" &&
            !absl::StartsWith(PackageStatus(package), "un")) {
          purge.push_back(package);
        }
      }
      if (purge.size() > 1) {
        CommandResult r = systemd_->Dpkg(purge);
        EXPECT_EQ(r.exit_code, 0) << "cleanup purge: " << r.out << r.err;
      }
      systemd_.reset();
    }
    std::error_code error;
    for (const std::string& path : kStatePaths) fs::remove_all(path, error);
    Sh("rm -f /etc/systemd/system/*.wants/egress-*.service; "
       "rm -rf /var/lib/systemd/deb-systemd-helper-enabled/*egress-*.service* "
       "/var/lib/systemd/deb-systemd-helper-enabled/*.wants/egress-*.service "
       "/var/lib/systemd/deb-systemd-helper-masked/egress-*.service");
    if (getpwnam("egress") != nullptr) Sh("userdel egress");
    if (getgrnam("egress") != nullptr) Sh("groupdel egress");
    postgres_.reset();
    net_.reset();
    if (!dir_.empty()) fs::remove_all(dir_, error);
  }

  // scripts/build-packages.sh into <dir>/<version>; the .deb files.
  std::vector<std::string> BuildPackages(const std::string& version, bool lintian) {
    const std::string out = absl::StrCat(dir_, "/packages-", version);
    const absl::Time started = absl::Now();
    CommandResult r =
        RunCommand({"/usr/bin/env", absl::StrCat("EGRESS_BUILD_DIR=", EGRESS_BUILD_DIR),
                    "EGRESS_PACKAGE_SKIP_BUILD=1", absl::StrCat("EGRESS_PACKAGE_VERSION=", version),
                    absl::StrCat("EGRESS_PACKAGE_LINTIAN=", lintian ? 1 : 0),
                    absl::StrCat(EGRESS_SOURCE_DIR, "/scripts/build-packages.sh"), out},
                   absl::Minutes(8));
    std::printf("build-packages.sh %s%s: %.1f s\n", version.c_str(), lintian ? " with lintian" : "",
                absl::ToDoubleSeconds(absl::Now() - started));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    if (lintian) std::printf("lintian and build log:\n%s\n", r.err.c_str());
    return r.exit_code == 0 ? Debs(out) : std::vector<std::string>{};
  }

  // dpkg through the stand-in; fails the test on a non-zero exit.
  std::vector<std::string> Dpkg(const std::vector<std::string>& args) {
    CommandResult r = systemd_->Dpkg(args);
    EXPECT_EQ(r.exit_code, 0) << "dpkg " << absl::StrJoin(args, " ") << ":\n"
                              << r.out << r.err << "\nsystemctl calls:\n"
                              << systemd_->Calls();
    return systemd_->TakeRequests();
  }

  CommandResult Egressctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/egressctl",
                                     absl::StrCat("--server=", kServiceSocket)};
    if (!admin_token_.empty()) argv.push_back("--token=" + admin_token_);
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  std::string MintToken(const std::string& scope, const std::string& subject) {
    CommandResult r =
        RunCommand({"/usr/bin/egressctl", "token", "--secret-file=/etc/egress/token-secret",
                    "--scope=" + scope, "--ttl=1h", subject});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::string(absl::StripAsciiWhitespace(r.out));
  }

  int64_t Scalar(const std::string& sql) {
    try {
      pqxx::connection connection(postgres_->ConnectionString("egress"));
      pqxx::nontransaction work(connection);
      pqxx::result rows = work.exec(sql);
      if (rows.empty() || rows[0][0].is_null()) return 0;
      return rows[0][0].as<int64_t>();
    } catch (const std::exception&) {
      return -1;
    }
  }

  int64_t Stored() {
    return Scalar(absl::StrCat("SELECT sum(count) FROM connection_daily WHERE account_id = '",
                               kAccount, "'"));
  }

  // Polls until the account's stored count is `want`; then the last value.
  int64_t WaitStored(int64_t want, absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    int64_t stored = Stored();
    while (stored != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      stored = Stored();
    }
    return stored;
  }

  // `egress-agent --once_dump` of the installed agent and flags: the spool.
  std::string OnceDump() {
    CommandResult r =
        RunCommand({"/usr/sbin/egress-agent", "--flagfile=/etc/egress/agent.flags", "--once_dump"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  static int64_t DumpField(const std::string& dump, const std::string& name) {
    std::smatch match;
    int64_t value = -1;
    if (std::regex_search(dump, match, std::regex(" " + name + "=([0-9]+)"))) {
      (void)absl::SimpleAtoi(match[1].str(), &value);
    }
    return value;
  }

  absl::Status WaitForAgentLog(const std::string& event, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!absl::StrContains(systemd_->Log(kAgentUnit), " event=" + event)) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("agent never logged ", event, ":\n", systemd_->Log(kAgentUnit)));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::OkStatus();
  }

  // The account's accepted connections as the gateway reports them
  // (Connect JSON), or -1.
  int64_t GatewayAccepted() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    std::string last;
    while (absl::Now() < deadline) {
      absl::StatusOr<std::string> response =
          HttpPost(net_->node(), 8080, "/egress.v1.ConnectionsService/DailyCounts", panel_token_,
                   absl::StrCat("{\"accountId\":\"", kAccount, "\"}"));
      if (response.ok()) {
        last = *response;
        std::smatch match;
        if (absl::StartsWith(*response, "HTTP/1.1 200") &&
            std::regex_search(*response, match, std::regex("\"accepted\":\"([0-9]+)\""))) {
          int64_t accepted = -1;
          (void)absl::SimpleAtoi(match[1].str(), &accepted);
          return accepted;
        }
      } else {
        last = std::string(response.status().message());
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    ADD_FAILURE() << "gateway: " << last << "\n" << systemd_->Log(kGatewayUnit);
    return -1;
  }

  bool owns_machine_state_ = false;
  std::string dir_;
  std::unique_ptr<NetnsPair> net_;
  std::unique_ptr<SystemdStandIn> systemd_;
  std::unique_ptr<PostgresCluster> postgres_;
  std::string admin_token_;
  std::string panel_token_;
};

TEST_F(PackageInstallTest, InstallStreamUpgradeKeepsSpoolRemoveKeepsStatePurgeLeavesNothing) {
  const absl::Time test_started = absl::Now();
  // ---- Build: the project's version (lintian-clean), then the same code
  // rebuilt with a higher version.
  const std::vector<std::string> v1 = BuildPackages(PROJECT_VERSION, /*lintian=*/true);
  ASSERT_EQ(v1.size(), kPackages.size()) << absl::StrJoin(v1, " ");
  const std::string version2 = absl::StrCat(PROJECT_VERSION, "+1");
  ASSERT_EQ(
      Sh(absl::StrCat("dpkg --compare-versions ", version2, " gt ", PROJECT_VERSION)).exit_code, 0);

  // ---- Install: units enabled, started where their conditions hold.
  std::vector<std::string> install = {"--install"};
  install.insert(install.end(), v1.begin(), v1.end());
  std::vector<std::string> requests = Dpkg(install);
  for (const std::string& package : kPackages) {
    EXPECT_EQ(PackageStatus(package), absl::StrCat("ii ", PROJECT_VERSION)) << package;
  }
  EXPECT_THAT(requests, ::testing::UnorderedElementsAre(absl::StrCat("start ", kAgentUnit),
                                                        absl::StrCat("start ", kServiceUnit),
                                                        absl::StrCat("start ", kGatewayUnit)));
  EXPECT_TRUE(fs::is_symlink("/etc/systemd/system/sysinit.target.wants/egress-agent.service"));
  EXPECT_TRUE(fs::is_symlink("/etc/systemd/system/multi-user.target.wants/egress-service.service"));
  // Nothing configured yet: the agent and the service wait for their
  // secrets (Condition), the gateway serves and finds no replica.
  EXPECT_FALSE(systemd_->Running(kAgentUnit));
  EXPECT_FALSE(systemd_->Running(kServiceUnit));
  EXPECT_TRUE(systemd_->Running(kGatewayUnit)) << systemd_->Log(kGatewayUnit);
  const passwd* user = getpwnam("egress");
  ASSERT_NE(user, nullptr) << "postinst made no user egress";
  EXPECT_LT(user->pw_uid, 1000u);
  EXPECT_STREQ(user->pw_dir, "/nonexistent");
  CommandResult conffiles = RunCommand({"/usr/bin/dpkg-query", "-W", "-f=${Conffiles}",
                                        "egress-agent", "egress-service", "egress-gateway"});
  for (const char* conffile :
       {"/etc/egress/agent.flags", "/etc/egress/service.flags", "/etc/egress/gateway.env"}) {
    EXPECT_THAT(conffiles.out, HasSubstr(conffile));
  }

  // ---- Configure as ops would: secret, database, the service started.
  {
    CommandResult secret =
        Sh("umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > "
           "/etc/egress/token-secret && chown root:egress /etc/egress/token-secret && chmod 0640 "
           "/etc/egress/token-secret");
    ASSERT_EQ(secret.exit_code, 0) << secret.err;
  }
  const std::string flags = "/etc/egress/service.flags";
  SetFlag(flags, "database",
          absl::StrCat("host=", postgres_->socket_dir(), " user=postgres dbname=egress"));
  SetFlag(flags, "also_listen", kServiceSocket);
  SetFlag(flags, "enrichment", "false");  // no DNS queries from the namespace
  SetFlag(flags, "shutdown_grace", "2s");
  SetFlag(flags, "db_pool_size", "4");
  SetFlag(flags, "ingest_threads", "2");
  ASSERT_OK(systemd_->Start(kServiceUnit));
  ASSERT_TRUE(systemd_->Running(kServiceUnit)) << systemd_->Log(kServiceUnit);
  ASSERT_OK(systemd_->Process(kServiceUnit)
                ->WaitForLine("egress-service listening on", absl::Seconds(60))
                .status())
      << systemd_->Log(kServiceUnit);
  admin_token_ = MintToken("admin", "package-test");
  panel_token_ = MintToken("panel", kAccount);
  for (const std::vector<std::string>& call :
       {std::vector<std::string>{"nodes", "upsert", kNode},
        std::vector<std::string>{"accounts", "upsert", kAccount, absl::StrCat("--node=", kNode),
                                 absl::StrCat("--uid=", kUid)}}) {
    CommandResult r = Egressctl(call);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  // ---- The agent: its node token, its flags, started from its unit.
  {
    std::ofstream token("/etc/egress/node.token");
    token << MintToken("node", kNode) << "\n";
  }
  ASSERT_EQ(chmod("/etc/egress/node.token", 0600), 0);
  const std::string agent_flags = "/etc/egress/agent.flags";
  SetFlag(agent_flags, "node_id", kNode);
  SetFlag(agent_flags, "service", kServiceSocket);
  SetFlag(agent_flags, "batch_interval", "200ms");
  SetFlag(agent_flags, "reconnect_max_backoff", "1s");
  ASSERT_OK(systemd_->Start(kAgentUnit));
  ASSERT_TRUE(systemd_->Running(kAgentUnit)) << systemd_->Log(kAgentUnit);
  ASSERT_OK(WaitForAgentLog("rules_applied", absl::Seconds(30)));
  EXPECT_TRUE(fs::is_directory("/var/lib/egress-agent/spool"));

  // ---- A batch of real connections, counted in PostgreSQL and read back
  // through the installed gateway.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RemoteListener> listener,
                       RemoteListener::Start(net_->remote(), RemoteListener::Kind::kTcp, 443));
  ASSERT_OK_AND_ASSIGN(AttemptResult first,
                       AttemptsAs(net_->node(), kUid, true, kRemoteX, 443, 20));
  ASSERT_EQ(first.ok, 20);
  EXPECT_EQ(WaitStored(20), 20) << systemd_->Log(kAgentUnit);
  EXPECT_EQ(GatewayAccepted(), 20);

  // ---- The service stops; more connections wait in the agent's spool.
  ASSERT_OK(systemd_->Stop(kServiceUnit));
  ASSERT_OK_AND_ASSIGN(AttemptResult second,
                       AttemptsAs(net_->node(), kUid, true, kRemoteX, 443, 15));
  ASSERT_EQ(second.ok, 15);
  systemd_->Process(kAgentUnit)->Signal(SIGUSR1);  // seal what it counted
  std::string dump;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(100))) {
    dump = OnceDump();
    if (DumpField(dump, "accept") == 15) break;
  }
  ASSERT_EQ(DumpField(dump, "accept"), 15) << dump;
  ASSERT_GT(DumpField(dump, "unacked_batches"), 0) << dump;

  // ---- Upgrade the agent (same code, higher version) while the service is
  // down: dpkg restarts it (postinst), the spool survives.
  const std::vector<std::string> v2 = BuildPackages(version2, /*lintian=*/false);
  ASSERT_EQ(v2.size(), kPackages.size());
  requests = Dpkg({"--install", DebOf(v2, "egress-agent")});
  EXPECT_THAT(requests, ::testing::ElementsAre(absl::StrCat("restart ", kAgentUnit)));
  EXPECT_EQ(PackageStatus("egress-agent"), absl::StrCat("ii ", version2));
  ASSERT_TRUE(systemd_->Running(kAgentUnit)) << systemd_->Log(kAgentUnit);
  dump = OnceDump();
  EXPECT_EQ(DumpField(dump, "accept"), 15) << dump;
  EXPECT_GT(DumpField(dump, "unacked_batches"), 0) << dump;
  // dpkg kept the edited conffile (unchanged in the package).
  EXPECT_THAT(ReadFileText(agent_flags), HasSubstr(absl::StrCat("--node_id=", kNode)));

  // ---- Upgrade the rest: the service comes back, the spool drains, and
  // the counts are exact (nothing lost, nothing doubled).
  std::vector<std::string> rest = {"--install"};
  for (const char* package : {"egress-service", "egressctl", "egress-gateway"}) {
    rest.push_back(DebOf(v2, package));
  }
  requests = Dpkg(rest);
  EXPECT_THAT(requests, ::testing::UnorderedElementsAre(absl::StrCat("restart ", kServiceUnit),
                                                        absl::StrCat("restart ", kGatewayUnit)));
  for (const std::string& package : kPackages) {
    EXPECT_EQ(PackageStatus(package), absl::StrCat("ii ", version2)) << package;
  }
  EXPECT_THAT(ReadFileText(flags), HasSubstr(postgres_->socket_dir()));
  ASSERT_TRUE(systemd_->Running(kServiceUnit)) << systemd_->Log(kServiceUnit);
  EXPECT_EQ(WaitStored(35), 35) << systemd_->Log(kAgentUnit);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Stored(), 35);
  EXPECT_EQ(GatewayAccepted(), 35);
  for (const absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(100))) {
    if (DumpField(OnceDump(), "unacked_batches") == 0) break;
  }
  EXPECT_EQ(DumpField(OnceDump(), "unacked_batches"), 0);
  CommandResult tables = Sh(absl::StrCat("ip netns exec ", net_->node(), " nft list tables"));
  EXPECT_THAT(tables.out, HasSubstr("table inet egress"));

  // ---- Remove: the units stop, binaries go, configuration and the agent's
  // state stay; the agent's nftables table goes (nothing would lift it).
  std::vector<std::string> remove = {"--remove"};
  remove.insert(remove.end(), kPackages.begin(), kPackages.end());
  requests = Dpkg(remove);
  EXPECT_THAT(requests, ::testing::UnorderedElementsAre(absl::StrCat("stop ", kAgentUnit),
                                                        absl::StrCat("stop ", kServiceUnit),
                                                        absl::StrCat("stop ", kGatewayUnit)));
  for (const char* unit : {kAgentUnit, kServiceUnit, kGatewayUnit}) {
    EXPECT_FALSE(systemd_->Running(unit)) << unit;
  }
  // Removed with their configuration kept ("rc"); egressctl has none left.
  for (const char* package : {"egress-agent", "egress-service", "egress-gateway"}) {
    EXPECT_TRUE(absl::StartsWith(PackageStatus(package), "rc ")) << package;
  }
  EXPECT_TRUE(absl::StartsWith(PackageStatus("egressctl"), "un")) << PackageStatus("egressctl");
  EXPECT_FALSE(fs::exists("/usr/sbin/egress-agent"));
  EXPECT_TRUE(fs::exists("/etc/egress/agent.flags"));
  EXPECT_TRUE(fs::is_directory("/var/lib/egress-agent/spool"));
  tables = Sh(absl::StrCat("ip netns exec ", net_->node(), " nft list tables"));
  EXPECT_THAT(tables.out, Not(HasSubstr("table inet egress")));

  // ---- Purge (after ops delete the secrets they made): nothing is left
  // but the system user, which Debian keeps.
  fs::remove("/etc/egress/node.token");
  fs::remove("/etc/egress/token-secret");
  std::vector<std::string> purge = {"--purge"};
  purge.insert(purge.end(), kPackages.begin(), kPackages.end());
  requests = Dpkg(purge);
  EXPECT_THAT(requests, IsEmpty());
  for (const std::string& package : kPackages) {
    const std::string status = PackageStatus(package);
    EXPECT_TRUE(status == "unknown" || absl::StartsWith(status, "un")) << package << status;
  }
  for (const std::string& path : kStatePaths) EXPECT_FALSE(fs::exists(path)) << path;
  CommandResult leftovers =
      Sh("ls -d /lib/systemd/system/egress-* /etc/systemd/system/*.wants/egress-* "
         "/var/lib/systemd/deb-systemd-helper-enabled/*egress* "
         "/var/lib/systemd/deb-systemd-helper-enabled/*/*egress* /usr/share/doc/egress* "
         "/usr/share/egress-gateway /usr/sbin/egress-* /usr/bin/egressctl 2>/dev/null");
  EXPECT_EQ(leftovers.out, "");
  EXPECT_NE(getpwnam("egress"), nullptr) << "purge removed the system user";
  std::printf("package test: %.1f s in all\n", absl::ToDoubleSeconds(absl::Now() - test_started));
}

}  // namespace
}  // namespace egress::testing
