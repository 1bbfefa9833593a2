// The service going away under a live agent stream: one replica restarted
// with SIGTERM and with kill -9, and two replicas on one PostgreSQL where
// the agent (--service naming both) moves to the other each time the one it
// streams to dies. Counts in PostgreSQL stay exact (no loss, no double).
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/netns/fault_env.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

int64_t AllAccepted(const FaultEnv& env) {
  return env.Scalar("SELECT sum(count) FROM connection_daily WHERE action = 1");
}

// True if batches keep being committed (the agent streams to some replica).
bool CommitsContinue(const FaultEnv& env) {
  const int64_t before = AllAccepted(env);
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
    if (AllAccepted(env) > before) return true;
  }
  return false;
}

TEST(FaultServiceTest, RestartsWithSigtermAndKillNineStayExact) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create(1));
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrafficMix> traffic, TrafficMix::Start(*env));
  const absl::Time soak_end = absl::Now() + absl::Minutes(SoakMinutes());
  int rounds = 0;
  do {
    for (int signal_number : {SIGTERM, SIGKILL}) {
      ASSERT_TRUE(CommitsContinue(*env)) << env->AgentLog();
      ASSERT_OK_AND_ASSIGN(int code, env->StopService(0, signal_number));
      EXPECT_EQ(code, signal_number == SIGTERM ? 0 : 128 + SIGKILL);
      absl::SleepFor(absl::Seconds(2));  // batches pile up in the spool
      ASSERT_OK(env->StartService(0));
    }
    ++rounds;
  } while (absl::Now() < soak_end);
  ASSERT_TRUE(CommitsContinue(*env)) << env->AgentLog();
  const TrafficTotals totals = traffic->Stop();
  std::printf("rounds=%d accept_a=%lld reject_a=%lld accept_b=%lld\n", rounds,
              static_cast<long long>(totals.a_accept), static_cast<long long>(totals.a_reject),
              static_cast<long long>(totals.b_accept));
  EXPECT_GT(totals.a_reject, 50);
  EXPECT_OK(ExpectExactCounts(*env, totals));
  EXPECT_EQ(env->Scalar("SELECT count(*) FROM node_day_losses"), 0);
}

TEST(FaultServiceTest, AgentFailsOverBetweenTwoReplicas) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create(2));
  ASSERT_OK(env->StartService(1));
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrafficMix> traffic, TrafficMix::Start(*env));
  const absl::Time soak_end = absl::Now() + absl::Minutes(SoakMinutes());
  int failovers = 0;
  do {
    // Each replica in turn dies (SIGTERM, then kill -9) while the other
    // stays: commits must go on during the outage, through the other one.
    for (const auto& [replica, signal_number] :
         {std::pair<int, int>{0, SIGTERM}, {1, SIGKILL}, {0, SIGKILL}, {1, SIGTERM}}) {
      ASSERT_TRUE(CommitsContinue(*env)) << env->AgentLog();
      ASSERT_OK_AND_ASSIGN(int code, env->StopService(replica, signal_number));
      (void)code;
      EXPECT_TRUE(CommitsContinue(*env)) << "no commits with replica " << replica << " down\n"
                                         << env->AgentLog();
      ASSERT_OK(env->StartService(replica));
      ++failovers;
    }
  } while (absl::Now() < soak_end);
  const TrafficTotals totals = traffic->Stop();
  std::printf("failovers=%d accept_a=%lld reject_a=%lld accept_b=%lld\n", failovers,
              static_cast<long long>(totals.a_accept), static_cast<long long>(totals.a_reject),
              static_cast<long long>(totals.b_accept));
  EXPECT_OK(ExpectExactCounts(*env, totals));
  // A rule change still reaches the node through whichever replica holds
  // its stream (LISTEN/NOTIFY): block acct-b's X:443 now.
  ASSERT_OK(env->BlockDestination("acct-b", kRemoteX, true, 443));
  const int64_t version = env->NodeRuleVersion();
  EXPECT_EQ(
      env->WaitFor(absl::StrCat("SELECT (applied_rule_version >= ", version, ")::int FROM nodes"),
                   1, absl::Seconds(10)),
      1);
  ASSERT_OK_AND_ASSIGN(AttemptResult b_blocked,
                       AttemptsAs(env->node_ns(), kFaultUidB, true, kRemoteX, 443, 4));
  EXPECT_EQ(b_blocked.refused, 4);
  EXPECT_EQ(env->WaitFor(FaultEnv::Sum("acct-b", 2), 4), 4);
  EXPECT_EQ(env->Scalar("SELECT count(*) FROM node_day_losses"), 0);
}

}  // namespace
}  // namespace egress::testing
