// PostgreSQL stopped for 30 s under a live agent stream and continuous
// traffic, then started again: the service acks nothing it did not commit,
// the agent keeps batches in its spool, and the counts end up exact.
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/netns/fault_env.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

TEST(FaultPostgresTest, StoppedThirtySecondsUnderTrafficStaysExact) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create(1));
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrafficMix> traffic, TrafficMix::Start(*env));
  const absl::Time soak_end = absl::Now() + absl::Minutes(SoakMinutes());
  int outages = 0;
  do {
    absl::SleepFor(absl::Seconds(3));
    ASSERT_OK(SharedCluster().StopServer());
    const TrafficTotals at_stop = traffic->Now();
    absl::SleepFor(absl::Seconds(30));
    const TrafficTotals at_start = traffic->Now();
    ASSERT_OK(SharedCluster().StartServer());
    EXPECT_GT(at_start.b_accept - at_stop.b_accept, 100);  // traffic went on meanwhile
    ++outages;
  } while (absl::Now() < soak_end);
  absl::SleepFor(absl::Seconds(3));
  const TrafficTotals totals = traffic->Stop();
  std::printf("outages=%d accept_a=%lld reject_a=%lld accept_b=%lld\n", outages,
              static_cast<long long>(totals.a_accept), static_cast<long long>(totals.a_reject),
              static_cast<long long>(totals.b_accept));
  EXPECT_OK(ExpectExactCounts(*env, totals));
  EXPECT_EQ(env->Scalar("SELECT count(*) FROM node_day_losses"), 0);
  EXPECT_TRUE(env->ServiceRunning(0));
}

}  // namespace
}  // namespace egress::testing
