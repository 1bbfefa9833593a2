// The agent's spool disk fills up while the service is unreachable: a 2 MiB
// tmpfs mounted on the spool directory, partly taken by another file, under
// traffic that makes a new aggregate key per connection. The agent drops
// its oldest batches to go on writing, and reports what they held
// (LossReport REASON_SPOOL_OVERFLOW, per day): once the service is back,
// the counts in PostgreSQL plus the reported loss equal the connections
// made, exactly, and the panel marks the day as a lower bound.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/netns/fault_env.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

namespace v1 = ::egress::v1;

int Occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(FaultSpoolTest, FullSpoolDiskLossIsCountedAndReportedNeverSilent) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create(1));
  const std::string spool = env->dir() + "/spool";
  std::filesystem::create_directories(spool);
  CommandResult mounted =
      RunCommand({"/usr/bin/mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", spool});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));

  // The service goes away; something else takes half of the disk.
  ASSERT_OK_AND_ASSIGN(int code, env->StopService(0, SIGTERM));
  EXPECT_EQ(code, 0);
  {
    std::ofstream filler(spool + "/filler", std::ios::binary);
    const std::string chunk(64 << 10, 'x');
    for (int i = 0; i < 16; ++i) filler << chunk;
    ASSERT_TRUE(filler.good());
  }

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrafficMix> traffic, TrafficMix::Start(*env));
  TrafficSpec spray_spec;
  spray_spec.ns = env->node_ns();
  spray_spec.uid = kFaultUidB;
  spray_spec.tcp = false;
  spray_spec.ip = kRemoteY;
  spray_spec.port = 1000;
  spray_spec.vary_port = true;
  spray_spec.udp_source_base = 40000;
  spray_spec.interval = absl::Microseconds(300);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Traffic> spray, Traffic::Start(spray_spec));

  // Until the disk was full several times (or 120 s).
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (Occurrences(env->AgentLog(), "event=spool_disk_full") < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  const AttemptResult sprayed = spray->Stop();
  TrafficTotals totals = traffic->Stop();
  const std::string log = env->AgentLog();
  ASSERT_GE(Occurrences(log, "event=spool_disk_full"), 3) << log;
  EXPECT_EQ(Occurrences(log, "event=spool_append_failed"), 0) << log;
  EXPECT_EQ(sprayed.other, 0);
  absl::SleepFor(absl::Milliseconds(500));  // the last batch sealed

  // The disk is freed and the service comes back.
  std::filesystem::remove(spool + "/filler");
  ASSERT_OK(env->StartService(0));
  const int64_t made = totals.a_accept + totals.a_reject + totals.b_accept + sprayed.ok;
  const std::string stored_plus_lost =
      "SELECT (SELECT coalesce(sum(count), 0) FROM connection_daily) + (SELECT "
      "coalesce(sum(events), 0) FROM node_day_losses WHERE reason = 2)";
  EXPECT_EQ(env->WaitFor(stored_plus_lost, made, absl::Seconds(120)), made)
      << "stored " << env->Scalar("SELECT sum(count) FROM connection_daily") << " lost "
      << env->Scalar("SELECT sum(events) FROM node_day_losses WHERE reason = 2");
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(env->Scalar(stored_plus_lost), made);
  const int64_t lost = env->Scalar("SELECT sum(events) FROM node_day_losses WHERE reason = 2");
  std::printf("made=%lld stored=%lld reported_lost=%lld\n", static_cast<long long>(made),
              static_cast<long long>(made - lost), static_cast<long long>(lost));
  EXPECT_GT(lost, 0);
  EXPECT_EQ(totals.other, 0);
  // Ops see it in the node's agent counters too (sent with the Hello).
  EXPECT_EQ(env->WaitFor(absl::StrCat("SELECT (spool_dropped_batches > 0)::int FROM "
                                      "node_agent_stats WHERE node_id = '",
                                      kFaultNode, "'"),
                         1, absl::Seconds(10)),
            1);

  // The panel shows the day as a lower bound.
  for (const char* account : {"acct-a", "acct-b"}) {
    auto panel = v1::ConnectionsService::NewStub(env->Channel());
    v1::ListDatesRequest request;
    request.set_account_id(account);
    v1::ListDatesResponse response;
    grpc::ClientContext context;
    Authorize(&context, PanelToken(account));
    ASSERT_TRUE(panel->ListDates(&context, request, &response).ok());
    ASSERT_GT(response.dates_size(), 0);
    EXPECT_TRUE(response.dates(response.dates_size() - 1).incomplete()) << account;
  }
}

}  // namespace
}  // namespace egress::testing
