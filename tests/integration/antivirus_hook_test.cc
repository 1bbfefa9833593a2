// deploy/examples/clamav-post-scan-hook.sh end to end: Debian's clamscan
// scans a home folder with a signature database the test writes, and the
// hook runs the real egressctl against the real egress-service on a real
// PostgreSQL. An infected scan locks the account, a later clean one lifts
// the lock; failed scans and malformed reports are refused and change
// nothing. Also egressctl's --report with JSON reports.
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/admin_calls.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::ChildProcess;
using ::egress::testing::CommandResult;
using ::egress::testing::DumpAllTables;
using ::egress::testing::FreshDatabase;
using ::egress::testing::RunCommand;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kInfectedReport[] =
    "/home/alice/public_html/wp-content/uploads/shell.php: Php.Webshell.Generic-1 FOUND\n"
    "/home/alice/my files/a: b.js: Js.Coinminer.Agent-2 FOUND\n"
    "\n"
    "----------- SCAN SUMMARY -----------\n"
    "Known viruses: 8693728\n"
    "Engine version: 0.103.8\n"
    "Scanned directories: 12\n"
    "Scanned files: 240\n"
    "Infected files: 2\n"
    "Data scanned: 4.20 MB\n"
    "Data read: 2.10 MB (ratio 2.00:1)\n"
    "Time: 12.345 sec (0 m 12 s)\n";

// A ClamAV body signature (.ndb: name, any file type, any offset, hex of
// the bytes): the test's own "malware", so no virus database is needed.
constexpr char kPayload[] = "egress_test_webshell_payload";
constexpr char kSignatureName[] = "EgressTest.Webshell";

class AntivirusHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("egress-av-hook-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
    std::filesystem::create_directories(dir_);
    Write("secret", ::egress::testing::kTestTokenSecret);
    Write("antivirus.token", ::egress::testing::AntivirusToken());
    conninfo_ = FreshDatabase();
    ASSERT_OK_AND_ASSIGN(
        service_, ChildProcess::Start({EGRESS_SERVICE_BIN, "--listen=127.0.0.1:0",
                                       "--database=" + conninfo_, "--enrichment=false",
                                       "--token-secret-file=" + (dir_ / "secret").string()}));
    ASSERT_OK_AND_ASSIGN(std::string line,
                         service_->WaitForLine("egress-service listening on ", absl::Seconds(30)));
    address_ = line.substr(line.rfind(' ') + 1);
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-01", "198.51.100.10"));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "alice", "web-01", 1001));
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `name` in the test's folder; `age` back-dates its modification
  // time (the hook takes it for the scan's finish time).
  std::string Write(const std::string& name, const std::string& text,
                    absl::Duration age = absl::ZeroDuration()) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    const timeval when = absl::ToTimeval(absl::Now() - age);
    const timeval times[2] = {when, when};
    EXPECT_EQ(utimes(path.c_str(), times), 0);
    return path;
  }

  CommandResult Hook(const std::string& report, const std::string& clamscan_status) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     std::string("EGRESSCTL=") + EGRESSCTL_BIN,
                                     "EGRESS_SERVER=" + address_,
                                     "EGRESS_TOKEN_FILE=" + (dir_ / "antivirus.token").string(),
                                     "/bin/sh",
                                     EGRESS_HOOK,
                                     "alice",
                                     "/home/alice",
                                     report};
    if (!clamscan_status.empty()) argv.push_back(clamscan_status);
    return RunCommand(argv);
  }

  // Runs clamscan on `home` with the test's signature into `report` (named
  // in the test's folder); returns clamscan's exit status as text. The
  // report is back-dated by `age`: it is the scan's finish time.
  std::string Clamscan(const std::filesystem::path& home, const std::string& report,
                       absl::Duration age) {
    const std::string database =
        Write("egress-test.ndb",
              absl::StrCat(kSignatureName, ":0:*:", absl::BytesToHexString(kPayload), "\n"));
    const std::string path = (dir_ / report).string();
    CommandResult scan = RunCommand(
        {"/bin/sh", "-c", "clamscan --infected --recursive --database=\"$1\" \"$2\" > \"$3\"",
         "clamscan", database, home.string(), path});
    const timeval when = absl::ToTimeval(absl::Now() - age);
    const timeval times[2] = {when, when};
    EXPECT_EQ(utimes(path.c_str(), times), 0);
    return absl::StrCat(scan.exit_code);
  }

  CommandResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {EGRESSCTL_BIN, "--server=" + address_,
                                     "--token=" + ::egress::testing::AntivirusToken()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  v1::AccountStatus Status() {
    v1::GetAccountStatusRequest request;
    request.set_account_id("alice");
    v1::AccountStatus status;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, ::egress::testing::PanelToken("alice"));
    const grpc::Status rpc =
        v1::ConnectionsService::NewStub(channel_)->GetAccountStatus(&context, request, &status);
    EXPECT_TRUE(rpc.ok()) << rpc.error_message();
    return status;
  }

  std::string ReadReport(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream text;
    text << in.rdbuf();
    return "\nreport:\n" + text.str();
  }

  // The threats of the newest scan recorded, as "path|signature".
  std::vector<std::string> LastScanThreats() {
    pqxx::connection connection(conninfo_);
    pqxx::work txn(connection);
    std::vector<std::string> out;
    for (const pqxx::row& row :
         txn.exec("SELECT t->>'path', t->>'signature' FROM (SELECT threats FROM antivirus_scans "
                  "ORDER BY finished_at DESC LIMIT 1) s, jsonb_array_elements(s.threats) t")) {
      out.push_back(row[0].as<std::string>() + "|" + row[1].as<std::string>());
    }
    return out;
  }

  std::filesystem::path dir_;
  std::string conninfo_;
  std::unique_ptr<ChildProcess> service_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AntivirusHookTest, AnInfectedScanLocksAndALaterCleanOneLifts) {
  ASSERT_THAT(Status().locks(), IsEmpty());
  // The account's home (the hook is told it is /home/alice: paths are sent
  // relative to it).
  const std::filesystem::path home = dir_ / "home" / "alice";
  const std::filesystem::path uploads = home / "public_html" / "wp-content" / "uploads";
  std::filesystem::create_directories(uploads);
  std::filesystem::create_directories(home / "my files");
  std::ofstream(uploads / "shell.php") << "<?php /* " << kPayload << " */ ?>\n";
  std::ofstream(home / "my files" / "a: b.js") << "var x = '" << kPayload << "';\n";
  std::ofstream(home / "public_html" / "index.php") << "<?php echo 'hello'; ?>\n";

  const std::string status = Clamscan(home, "infected.scan", absl::Minutes(10));
  ASSERT_EQ(status, "1") << ReadReport("infected.scan");
  CommandResult infected = RunCommand(
      {"/usr/bin/env", std::string("EGRESSCTL=") + EGRESSCTL_BIN, "EGRESS_SERVER=" + address_,
       "EGRESS_TOKEN_FILE=" + (dir_ / "antivirus.token").string(), "/bin/sh", EGRESS_HOOK, "alice",
       home.string(), (dir_ / "infected.scan").string(), status});
  ASSERT_EQ(infected.exit_code, 0) << infected.err << ReadReport("infected.scan");
  EXPECT_THAT(infected.err, AllOf(HasSubstr("account=alice scan_id=clamav-"),
                                  HasSubstr("threats_found=yes exit=0")));
  v1::AccountStatus locked = Status();
  EXPECT_TRUE(locked.all_blocked());
  ASSERT_EQ(locked.locks_size(), 1);
  EXPECT_EQ(locked.locks(0).kind(), v1::LOCK_KIND_ANTIVIRUS);
  EXPECT_EQ(locked.locks(0).threat_count(), 2u);
  EXPECT_THAT(locked.locks(0).scan_id(), StartsWith("clamav-"));
  // Paths relative to the home, spaces and ": " kept; clamscan's name for a
  // signature of a database it does not know as official.
  const std::string found = absl::StrCat("|", kSignatureName, ".UNOFFICIAL");
  EXPECT_THAT(LastScanThreats(),
              UnorderedElementsAre("public_html/wp-content/uploads/shell.php" + found,
                                   "my files/a: b.js" + found));

  // The same report again is the same scan: nothing new is recorded.
  const std::string before_replay = DumpAllTables(conninfo_);
  CommandResult replay = RunCommand(
      {"/usr/bin/env", std::string("EGRESSCTL=") + EGRESSCTL_BIN, "EGRESS_SERVER=" + address_,
       "EGRESS_TOKEN_FILE=" + (dir_ / "antivirus.token").string(), "/bin/sh", EGRESS_HOOK, "alice",
       home.string(), (dir_ / "infected.scan").string(), status});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_EQ(DumpAllTables(conninfo_), before_replay);

  // The owner cleans up; the next scan finds nothing.
  std::filesystem::remove(uploads / "shell.php");
  std::filesystem::remove(home / "my files" / "a: b.js");
  const std::string clean_status = Clamscan(home, "clean.scan", absl::Minutes(5));
  ASSERT_EQ(clean_status, "0") << ReadReport("clean.scan");
  CommandResult clean = RunCommand(
      {"/usr/bin/env", std::string("EGRESSCTL=") + EGRESSCTL_BIN, "EGRESS_SERVER=" + address_,
       "EGRESS_TOKEN_FILE=" + (dir_ / "antivirus.token").string(), "/bin/sh", EGRESS_HOOK, "alice",
       home.string(), (dir_ / "clean.scan").string(), clean_status});
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_THAT(clean.err, HasSubstr("threats_found=no exit=0"));
  v1::AccountStatus lifted = Status();
  EXPECT_FALSE(lifted.all_blocked());
  EXPECT_THAT(lifted.locks(), IsEmpty());
}

TEST_F(AntivirusHookTest, FailedScansAndMalformedReportsChangeNothing) {
  ASSERT_EQ(Hook(Write("infected.scan", kInfectedReport, absl::Minutes(10)), "1").exit_code, 0);
  ASSERT_EQ(Status().locks_size(), 1);
  const std::string before = DumpAllTables(conninfo_);

  struct Case {
    std::string name;
    std::string report;
    std::string clamscan_status;
    std::string error;
  };
  const std::vector<Case> cases = {
      // clamscan failed (status 2) with an empty report: not a clean scan.
      {"failed.scan", "", "2", "clamscan failed (status 2)"},
      // Said it found threats, but the report is empty (cut, or the wrong file).
      {"cut.scan", "", "1", "the report lists none"},
      {"contradiction.scan", kInfectedReport, "0", "the report lists threats"},
      // Not clamscan output at all.
      {"garbage.scan", "<html>502 Bad Gateway</html>\n", "",
       "report line 1 is not clamscan output"},
      {"summary.scan",
       "/home/alice/x.php: Php.Shell FOUND\n----------- SCAN SUMMARY -----------\n"
       "Infected files: 4\n",
       "1", "the summary counts 4 infected files but 1 are listed"},
  };
  for (const Case& c : cases) {
    CommandResult refused = Hook(Write(c.name, c.report, absl::Minutes(1)), c.clamscan_status);
    EXPECT_EQ(refused.exit_code, 2) << c.name << ": " << refused.err;
    EXPECT_THAT(refused.err, HasSubstr(c.error)) << c.name;
  }
  CommandResult no_such = Hook((dir_ / "missing.scan").string(), "0");
  EXPECT_EQ(no_such.exit_code, 2);
  EXPECT_THAT(no_such.err, HasSubstr("cannot read report"));

  EXPECT_EQ(DumpAllTables(conninfo_), before);
  EXPECT_EQ(Status().locks_size(), 1);
}

TEST_F(AntivirusHookTest, EgressctlReadsJsonReports) {
  const std::string infected = Write(
      "infected.json",
      R"({"scanner": "maldet 1.6", "threats": [{"path": "/home/alice/x.php", "signature": "{HEX}php.cmdshell.unclassed.365"}]})");
  CommandResult locked = Ctl({"report-scan", "alice", "maldet-1", "--report=" + infected,
                              "--report-base=/home/alice", "--finished=2026-01-02T03:00:00Z"});
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  EXPECT_THAT(locked.out, AllOf(HasSubstr("antivirus"), HasSubstr("maldet-1 (1 threat)")));
  EXPECT_THAT(LastScanThreats(), ElementsAre("x.php|{HEX}php.cmdshell.unclassed.365"));

  const std::string before = DumpAllTables(conninfo_);
  CommandResult malformed = Ctl({"report-scan", "alice", "maldet-2",
                                 "--report=" + Write("bad.json", R"([{"path": "x"}])"),
                                 "--finished=2026-01-02T04:00:00Z"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_THAT(malformed.err, HasSubstr("report [0].signature: missing"));
  EXPECT_EQ(DumpAllTables(conninfo_), before);

  CommandResult clean =
      Ctl({"report-scan", "alice", "maldet-3", "--report=" + Write("clean.json", "[]"),
           "--report-format=json", "--finished=2026-01-02T05:00:00Z"});
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_THAT(Status().locks(), IsEmpty());
}

}  // namespace
}  // namespace egress
