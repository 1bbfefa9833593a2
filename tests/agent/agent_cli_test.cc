// The egress-agent binary's command line without root or kernel: --help
// explains every flag defined in agent/main.cc, and --once-dump reads a
// spool and the persisted state without changing them.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "agent/file_spool.h"
#include "agent/file_state_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/files.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace egress::agent {
namespace {

using ::egress::testing::CommandResult;
using ::egress::testing::ReadFileText;
using ::egress::testing::RunCommand;
using ::testing::HasSubstr;

TEST(AgentCliTest, HelpExplainsEveryFlag) {
  CommandResult help = RunCommand({EGRESS_AGENT_PATH, "--help"});
  // Asking for help succeeds; help beside a flag that does not exist does not.
  EXPECT_EQ(help.exit_code, 0) << help.err;
  CommandResult bad = RunCommand({EGRESS_AGENT_PATH, "--help", "--no-such-flag"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("no_such_flag"));
  const std::string text = help.out + help.err;
  EXPECT_THAT(text, HasSubstr("SIGTERM"));
  EXPECT_THAT(text, HasSubstr("SIGUSR1"));
  // Every ABSL_FLAG of main.cc appears with a description of some length.
  const std::string source = ReadFileText(std::string(EGRESS_SOURCE_DIR) + "/agent/main.cc");
  const std::regex flag_re(R"(ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)\s*,)");
  int flags = 0;
  for (std::sregex_iterator it(source.begin(), source.end(), flag_re), end; it != end; ++it) {
    const std::string name = (*it)[1];
    ++flags;
    // The description is at least 15 characters and stays within the flag's
    // own entry (entries start with a new line and "    --").
    const std::regex described("--" + name + R"( \(((?:(?!\n    --)[\s\S]){15,}?)\);\s*default:)");
    EXPECT_TRUE(std::regex_search(text, described)) << "--" << name << " is not explained";
  }
  EXPECT_GE(flags, 25);
}

TEST(AgentCliTest, UnreadableOrEmptyTokenFileIsRefusedAtStart) {
  char tmpl[] = "/tmp/egress-agent-token-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string missing = dir + "/absent.token";
  CommandResult absent = RunCommand(
      {EGRESS_AGENT_PATH, "--node-id=n1", "--state-dir=" + dir, "--token-file=" + missing});
  EXPECT_EQ(absent.exit_code, 2) << absent.err;
  EXPECT_THAT(absent.err, HasSubstr("--token-file: cannot read " + missing));
  const std::string empty = dir + "/empty.token";
  std::ofstream(empty) << " \n";
  CommandResult blank = RunCommand(
      {EGRESS_AGENT_PATH, "--node-id=n1", "--state-dir=" + dir, "--token-file=" + empty});
  EXPECT_EQ(blank.exit_code, 2) << blank.err;
  EXPECT_THAT(blank.err, HasSubstr(empty + " is empty"));
  std::filesystem::remove_all(dir);
}

class OnceDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/egress-agent-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static v1::RecordBatch Batch(uint64_t count, const std::string& ip, v1::Action action) {
    v1::RecordBatch batch;
    v1::ConnectionRecord* r = batch.add_records();
    r->set_uid(1001);
    r->mutable_day()->set_year(2026);
    r->mutable_day()->set_month(3);
    r->mutable_day()->set_day(1);
    r->set_dst_ip(ip);
    r->set_protocol(v1::PROTOCOL_TCP);
    r->set_dst_port(443);
    r->set_action(action);
    r->set_count(count);
    r->mutable_first_seen()->set_seconds(1772323200 + static_cast<int64_t>(count));
    r->mutable_last_seen()->set_seconds(1772323300 + static_cast<int64_t>(count));
    return batch;
  }

  // name -> size of every file under dir_.
  std::map<std::string, uintmax_t> Files() {
    std::map<std::string, uintmax_t> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      if (e.is_regular_file()) files[e.path().string()] = e.file_size();
    }
    return files;
  }

  std::string dir_;
};

TEST_F(OnceDumpTest, PrintsUnacknowledgedAggregatesAndChangesNothing) {
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<FileStateStore> state, FileStateStore::Open(dir_));
    v1::RuleSet rules;
    rules.set_version(9);
    rules.add_accounts()->set_uid(1001);
    ASSERT_OK(state->SaveRuleSet(rules));
    ASSERT_OK(state->SaveTimeZone("Europe/Moscow"));
    ASSERT_OK_AND_ASSIGN(auto spool,
                         FileSpool::Create({dir_ + "/spool", 1 << 20, FsyncPolicy::kNever}));
    const std::string ip(std::string("\xc0\x00\x02\x01", 4));
    v1::RecordBatch acked = Batch(100, ip, v1::ACTION_ACCEPT);
    ASSERT_OK(spool->Append(&acked, 0).status());
    ASSERT_OK(spool->Anchor(0));
    ASSERT_OK(spool->AckThrough(1));  // the service has it: not shown
    v1::RecordBatch two = Batch(2, ip, v1::ACTION_ACCEPT);
    ASSERT_OK(spool->Append(&two, 0).status());
    v1::RecordBatch three = Batch(3, ip, v1::ACTION_ACCEPT);
    v1::LossReport* loss = three.add_losses();
    *loss->mutable_day() = three.records(0).day();
    loss->set_reason(v1::LossReport::REASON_RESYNC_WINDOW_EXCEEDED);
    loss->set_size_unknown(true);
    *three.add_records() = Batch(4, std::string(16, '\x20'), v1::ACTION_REJECT).records(0);
    ASSERT_OK(spool->Append(&three, 0).status());
  }
  const auto before = Files();
  CommandResult dump = RunCommand({EGRESS_AGENT_PATH, "--once-dump", "--state-dir=" + dir_});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_THAT(dump.out, HasSubstr("state rule_version=9 accounts=1 time_zone=Europe/Moscow\n"));
  EXPECT_THAT(dump.out, HasSubstr("acked_seq=1 "));
  EXPECT_THAT(dump.out, HasSubstr("anchored=1 unacked_batches=2 first_seq=2 last_seq=3 "
                                  "damaged_records=0\n"));
  // Batches 2 and 3 summed per key; batch 1 (acked) left out.
  EXPECT_THAT(dump.out, HasSubstr("record uid=1001 day=2026-03-01 dst=192.0.2.1 protocol=tcp "
                                  "port=443 action=ACCEPT count=5 "
                                  "first_seen=2026-03-01T00:00:02.000Z "
                                  "last_seen=2026-03-01T00:01:43.000Z\n"));
  EXPECT_THAT(dump.out, HasSubstr("record uid=1001 day=2026-03-01 dst=2020:2020:2020:2020:2020:"
                                  "2020:2020:2020 protocol=tcp port=443 action=REJECT count=4"));
  EXPECT_THAT(dump.out, HasSubstr("loss day=2026-03-01 reason=REASON_RESYNC_WINDOW_EXCEEDED "
                                  "events=0 size_unknown=1\n"));
  EXPECT_THAT(dump.out, HasSubstr("total records=2 accept=5 reject=4\n"));
  EXPECT_EQ(Files(), before) << "--once-dump must not change the spool or the state";

  // No node id needed; a missing spool is an error that says so.
  CommandResult missing =
      RunCommand({EGRESS_AGENT_PATH, "--once-dump", "--state-dir=" + dir_ + "/nothing"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no spool directory"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nothing"));
}

// A batch larger than the service accepts in one message would be refused
// on every resend: such a cap is refused at start, naming the flag.
TEST(AgentCliTest, BatchCapAboveWhatTheServiceAcceptsIsRefused) {
  CommandResult big = RunCommand({EGRESS_AGENT_PATH, "--node-id=n1", "--batch-max-records=50001"});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_THAT(big.err, HasSubstr("--batch-max-records must be at most 50000"));
}

}  // namespace
}  // namespace egress::agent
