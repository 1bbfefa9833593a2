// Faults of the agent itself, with the real agent, the real service (a
// process) and PostgreSQL: kill -9 mid-stream again and again under
// continuous traffic, then exact counts; and a "rebooted" node (agent killed,
// its nftables table gone) coming up while the service and PostgreSQL are
// down enforces the last rule set before anything else.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/netns/fault_env.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

TEST(FaultAgentKillTest, KillNineRepeatedlyUnderTrafficLosesAndDoublesNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create());
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrafficMix> traffic, TrafficMix::Start(*env));

  // At least 5 kills; EGRESS_SOAK_MINUTES keeps going for that long.
  const absl::Time soak_end = absl::Now() + absl::Minutes(SoakMinutes());
  int kills = 0;
  absl::Duration longest_down;
  while (kills < 5 || absl::Now() < soak_end) {
    absl::SleepFor(absl::Seconds(3));
    // Rejected attempts made while no agent reads NFLOG are lost (see
    // agent/README.md); accepted ones are recovered from conntrack.
    traffic->blocked().Pause();
    absl::SleepFor(absl::Milliseconds(300));  // sealed into the spool
    ASSERT_OK_AND_ASSIGN(int code, env->StopAgent(SIGKILL));
    EXPECT_EQ(code, 128 + SIGKILL);
    const absl::Time killed = absl::Now();
    absl::SleepFor(absl::Milliseconds(500));  // accepted connections while down
    ASSERT_OK(env->StartAgent());
    longest_down = std::max(longest_down, absl::Now() - killed);
    traffic->blocked().Resume();
    ++kills;
  }
  absl::SleepFor(absl::Seconds(2));
  const TrafficTotals totals = traffic->Stop();
  std::printf("kills=%d longest_down_ms=%lld accept_a=%lld reject_a=%lld accept_b=%lld\n", kills,
              static_cast<long long>(absl::ToInt64Milliseconds(longest_down)),
              static_cast<long long>(totals.a_accept), static_cast<long long>(totals.a_reject),
              static_cast<long long>(totals.b_accept));
  EXPECT_GT(totals.a_reject, 100);
  EXPECT_GT(totals.b_accept, 500);
  EXPECT_OK(ExpectExactCounts(*env, totals));
  EXPECT_EQ(env->Scalar("SELECT count(*) FROM node_day_losses"), 0) << env->AgentLog();
}

TEST(FaultAgentKillTest, RebootWithServiceAndDatabaseDownEnforcesLastRulesFirst) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create());
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));
  ASSERT_OK_AND_ASSIGN(AttemptResult before,
                       AttemptsAs(env->node_ns(), kFaultUidA, true, kRemoteX, 443, 3));
  EXPECT_EQ(before.refused, 3);
  EXPECT_EQ(env->WaitFor(FaultEnv::Sum("acct-a", 2), 3), 3);

  // The node goes down hard; so do the service and PostgreSQL.
  ASSERT_OK_AND_ASSIGN(int code, env->StopAgent(SIGKILL));
  EXPECT_EQ(code, 128 + SIGKILL);
  ASSERT_OK_AND_ASSIGN(code, env->StopService(0, SIGKILL));
  ASSERT_OK(SharedCluster().StopServer());
  // A reboot leaves no nftables state: remove the table by hand.
  CommandResult removed = RunCommand({"/usr/sbin/ip", "netns", "exec", env->node_ns(), "nft",
                                      "delete", "table", "inet", "egress"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  ASSERT_OK_AND_ASSIGN(AttemptResult open,
                       AttemptsAs(env->node_ns(), kFaultUidA, true, kRemoteX, 443, 1));
  EXPECT_EQ(open.ok, 1);  // nothing enforces anything now

  // A fresh agent: the very first attempt after it says ready is refused.
  ASSERT_OK(env->StartAgent());
  ASSERT_OK_AND_ASSIGN(AttemptResult first,
                       AttemptsAs(env->node_ns(), kFaultUidA, true, kRemoteX, 443, 1));
  EXPECT_EQ(first.refused, 1) << env->AgentLog();
  ASSERT_OK_AND_ASSIGN(AttemptResult other,
                       AttemptsAs(env->node_ns(), kFaultUidB, true, kRemoteX, 443, 2));
  EXPECT_EQ(other.ok, 2);
  EXPECT_NE(env->AgentLog().find("persisted_rules_applied"), std::string::npos);

  // Everything comes back: what happened meanwhile arrives, exactly.
  ASSERT_OK(SharedCluster().StartServer());
  ASSERT_OK(env->StartService(0));
  EXPECT_EQ(env->WaitFor(FaultEnv::Sum("acct-a", 2), 3 + 1), 3 + 1) << env->AgentLog();
  EXPECT_EQ(env->WaitFor(FaultEnv::Sum("acct-b", 1), 2), 2);
  // The attempt made while the node had no table at all was neither marked
  // nor tracked: nothing can count it (hence the unit starts the agent
  // before the network).
  EXPECT_EQ(env->Scalar(FaultEnv::Sum("acct-a", 1)), 0);
}

}  // namespace
}  // namespace egress::testing
