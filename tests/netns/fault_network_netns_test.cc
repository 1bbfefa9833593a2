// The link between the node and the service cut for 60 s (veth down in the
// node namespace) under continuous traffic: the agent spools, reconnects when
// the link is back, and the counts end up exact. An antivirus lock reported
// while the node is cut off is enforced as soon as it reconnects: the Welcome
// carries the rule set and the agent applies it before anything else.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/netns/fault_env.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

TEST(FaultNetworkTest, LinkDownSixtySecondsThenLockEnforcedOnReconnect) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultEnv> env, FaultEnv::Create(1));
  ASSERT_OK(env->StartAgent());
  ASSERT_OK(BlockA(*env));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrafficMix> traffic, TrafficMix::Start(*env));
  // A probe of acct-a to Y:443/tcp every 5 ms: accepted until the lock.
  TrafficSpec probe_spec;
  probe_spec.ns = env->node_ns();
  probe_spec.uid = kFaultUidA;
  probe_spec.ip = kRemoteY;
  probe_spec.port = 443;
  probe_spec.interval = absl::Milliseconds(5);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Traffic> probe, Traffic::Start(probe_spec));

  const double soak_minutes = SoakMinutes();
  const absl::Duration cut = soak_minutes > 0 ? absl::Minutes(soak_minutes) : absl::Seconds(60);
  absl::SleepFor(absl::Seconds(3));
  ASSERT_OK(env->SetCentralLink(false));
  const TrafficTotals at_cut = traffic->Now();
  absl::SleepFor(absl::Seconds(5));
  // The scanner finds malware on acct-a while the node is unreachable.
  ASSERT_OK(env->ReportScan("acct-a", "scan-while-cut", true));
  absl::SleepFor(cut - absl::Seconds(5));
  EXPECT_FALSE(probe->FirstRefused().has_value()) << "lock enforced while cut off?";
  const TrafficTotals at_up = traffic->Now();
  EXPECT_GT(at_up.b_accept - at_cut.b_accept, 200);  // traffic went on meanwhile
  const absl::Time link_up = absl::Now();
  ASSERT_OK(env->SetCentralLink(true));

  // Enforced: the probe gets ECONNREFUSED.
  const absl::Time deadline = link_up + absl::Seconds(30);
  while (!probe->FirstRefused().has_value() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(probe->FirstRefused().has_value()) << env->AgentLog();
  const absl::Time refused = *probe->FirstRefused();
  // The agent logs the Welcome after applying its rule set: wait for the line.
  std::optional<absl::Time> welcome;
  for (int i = 0; i < 100 && !welcome.has_value(); ++i) {
    welcome = env->AgentLogTime("uplink_welcome", link_up);
    if (!welcome.has_value()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(welcome.has_value()) << env->AgentLog();
  const absl::Duration reconnect_to_refused = refused - *welcome;
  const absl::Duration up_to_refused = refused - link_up;
  std::printf("link_up_to_welcome_ms=%.1f welcome_to_refused_ms=%.1f link_up_to_refused_ms=%.1f\n",
              absl::ToDoubleMilliseconds(*welcome - link_up),
              absl::ToDoubleMilliseconds(reconnect_to_refused),
              absl::ToDoubleMilliseconds(up_to_refused));
  EXPECT_LT(reconnect_to_refused, absl::Seconds(1));
  // The agent retries at most every --reconnect-max-backoff (1 s, +50% jitter).
  EXPECT_LT(up_to_refused, absl::Seconds(3));

  absl::SleepFor(absl::Seconds(2));
  const AttemptResult probed = probe->Stop();
  TrafficTotals totals = traffic->Stop();
  totals.a_accept += probed.ok;
  totals.a_reject += probed.refused;
  totals.other += probed.other;
  std::printf("accept_a=%lld reject_a=%lld accept_b=%lld\n",
              static_cast<long long>(totals.a_accept), static_cast<long long>(totals.a_reject),
              static_cast<long long>(totals.b_accept));
  EXPECT_OK(ExpectExactCounts(*env, totals));
  EXPECT_EQ(env->Scalar("SELECT count(*) FROM node_day_losses"), 0);
}

}  // namespace
}  // namespace egress::testing
