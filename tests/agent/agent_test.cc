// The agent's own logic through its seams (tests/fakes): when batches are
// sealed and what goes into them, the high-water mark and the restart resync,
// loss accounting and the boot-time replay of persisted rules. The real event
// loop runs on a thread of the test; no root, kernel or network involved.
// The same behaviour against the real kernel: tests/netns/agent_netns_test.cc.
#include "agent/agent.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_agent_parts.h"
#include "tests/fakes/fake_clock.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

using agent::Action;
using agent::Agent;
using agent::AgentConfig;
using agent::ConnectionEvent;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr absl::Duration kInterval = absl::Seconds(10);
constexpr uint32_t kUidA = 2001;
constexpr uint32_t kUidB = 2002;

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) ADD_FAILURE() << "no time zone data for " << name;
  return zone;
}

absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

ConnectionEvent Event(uint32_t uid, const char* ip, uint16_t port, absl::Time time,
                      Action action = Action::kAccept) {
  ConnectionEvent e;
  e.uid = uid;
  e.dst = *IpAddress::Parse(ip);
  e.protocol = Protocol::kTcp;
  e.dst_port = port;
  e.time = time;
  e.action = action;
  return e;
}

// Noon of 2026-03-13 (UTC), when each test's clock starts.
const absl::Time kStart = Utc(2026, 3, 13, 12, 0, 0);

uint64_t Nanos(absl::Time t) { return static_cast<uint64_t>(absl::ToUnixNanos(t)); }

std::string Day(const v1::Date& d) { return absl::StrCat(d.year(), "-", d.month(), "-", d.day()); }

// Counts of every record of `batches` per "uid day action", summed.
std::map<std::string, uint64_t> Totals(const std::vector<v1::RecordBatch>& batches) {
  std::map<std::string, uint64_t> totals;
  for (const v1::RecordBatch& b : batches) {
    for (const v1::ConnectionRecord& r : b.records()) {
      totals[absl::StrCat(r.uid(), " ", Day(r.day()), " ",
                          r.action() == v1::ACTION_ACCEPT ? "accept" : "reject")] += r.count();
    }
  }
  return totals;
}

std::vector<v1::LossReport> Losses(const std::vector<v1::RecordBatch>& batches) {
  std::vector<v1::LossReport> losses;
  for (const v1::RecordBatch& b : batches)
    losses.insert(losses.end(), b.losses().begin(), b.losses().end());
  return losses;
}

v1::RuleSet Rules(uint64_t version) {
  v1::RuleSet rules;
  rules.set_version(version);
  v1::AccountRules* a = rules.add_accounts();
  a->set_account_id("acct-a");
  a->set_uid(kUidA);
  v1::RuleMatch* m = a->add_rules();
  m->set_network("192.0.2.7/32");
  m->set_protocol(v1::PROTOCOL_TCP);
  m->set_port(443);
  return rules;
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() {
    config_.batch_interval = kInterval;
    config_.shutdown_grace = absl::ZeroDuration();
  }
  ~AgentTest() override {
    if (agent_ != nullptr) Stop();
  }

  // Builds the agent from the parts (what a start of the process does) and
  // runs its event loop on a thread; returns once the loop is running.
  void Start() {
    auto agent = Agent::Create(config_, &parts_, &clock_);
    ASSERT_OK(agent.status());
    agent_ = *std::move(agent);
    loop_ = std::thread([this] { run_status_ = agent_->Run(); });
    // The loop has read its start time once it handles a wakeup.
    parts_.conntrack()->Wake();
    ASSERT_TRUE(parts_.conntrack()->WaitUntilDrained(kWait));
  }

  // RequestShutdown (SIGTERM): the loop seals what it counted and returns.
  void Stop() {
    agent_->RequestShutdown();
    loop_.join();
    EXPECT_OK(run_status_);
    agent_.reset();
  }

  // Events through the conntrack source, counted once this returns.
  void Connect(const std::vector<ConnectionEvent>& events) {
    for (const ConnectionEvent& e : events) parts_.conntrack()->Push(e);
    ASSERT_TRUE(parts_.conntrack()->WaitUntilDrained(kWait));
  }

  // Moves the clock on and wakes the loop; returns once `batches` were
  // sealed in all.
  void AdvanceAndWaitForBatches(absl::Duration by, size_t batches) {
    clock_.Advance(by);
    parts_.conntrack()->Wake();
    ASSERT_TRUE(parts_.spool().WaitForAppended(batches, kWait))
        << parts_.spool().appended().size() << " batches sealed";
  }

  FakeClock clock_{kStart};
  FakeAgentParts parts_{&clock_};
  // The kernel's REJECT counting sets, when a test uses them.
  FakeRejectKernel kernel_;
  AgentConfig config_;
  std::unique_ptr<Agent> agent_;
  std::thread loop_;
  absl::Status run_status_;
};

// ---- Sealing ----

TEST_F(AgentTest, SealsOneBatchPerIntervalAndNeverAnEmptyOne) {
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart), Event(kUidA, "192.0.2.1", 443, kStart),
           Event(kUidB, "192.0.2.2", 80, kStart)});
  clock_.Advance(kInterval - absl::Seconds(1));
  Connect({Event(kUidA, "192.0.2.1", 443, clock_.Now())});
  EXPECT_THAT(parts_.spool().appended(), IsEmpty()) << "sealed before the interval";

  AdvanceAndWaitForBatches(absl::Seconds(1), 1);
  const v1::RecordBatch first = parts_.spool().appended()[0];
  EXPECT_EQ(first.seq(), 1u);
  ASSERT_EQ(first.records_size(), 2);
  EXPECT_EQ(first.records(0).uid(), kUidA);
  EXPECT_EQ(first.records(0).count(), 3u);
  EXPECT_EQ(first.records(1).uid(), kUidB);
  EXPECT_EQ(first.records(1).count(), 1u);
  EXPECT_EQ(first.create_time().seconds(), absl::ToUnixSeconds(kStart + kInterval));

  // An interval with nothing counted seals nothing.
  clock_.Advance(kInterval);
  parts_.conntrack()->Wake();
  Connect({Event(kUidB, "192.0.2.2", 80, clock_.Now())});
  AdvanceAndWaitForBatches(kInterval, 2);
  FakeUplink* uplink = parts_.uplink();
  agent_->RequestShutdown();
  loop_.join();
  // The uplink was told of each batch.
  EXPECT_EQ(uplink->batch_ready_calls(), 2);
  agent_.reset();
  const std::vector<v1::RecordBatch> all = parts_.spool().appended();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].seq(), 2u);
  EXPECT_EQ(Totals(all), (std::map<std::string, uint64_t>{{"2001 2026-3-13 accept", 3},
                                                          {"2002 2026-3-13 accept", 2}}));
}

TEST_F(AgentTest, SealsEarlyWhenTheAggregatorHoldsBatchMaxRecordsKeys) {
  config_.batch_max_records = 3;
  Start();
  Connect({Event(kUidA, "192.0.2.1", 1, kStart), Event(kUidA, "192.0.2.1", 2, kStart),
           Event(kUidA, "192.0.2.1", 3, kStart), Event(kUidA, "192.0.2.1", 4, kStart),
           Event(kUidA, "192.0.2.1", 4, kStart)});
  ASSERT_EQ(parts_.spool().appended().size(), 1u);
  EXPECT_EQ(parts_.spool().appended()[0].records_size(), 3);
  Stop();
  ASSERT_EQ(parts_.spool().appended().size(), 2u);
  ASSERT_EQ(parts_.spool().appended()[1].records_size(), 1);
  EXPECT_EQ(parts_.spool().appended()[1].records(0).count(), 2u);
}

TEST_F(AgentTest, SealRequestSealsAtOnce) {
  config_.batch_interval = absl::Hours(1);
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  agent_->RequestSeal();
  ASSERT_TRUE(parts_.spool().WaitForAppended(1, kWait));
  EXPECT_EQ(agent_->Counters().batches_sealed, 1u);
  EXPECT_EQ(agent_->Counters().records, 1u);
}

// A connection counts for the civil day of its start in the service's time
// zone (persisted from the last Welcome): one batch across midnight holds
// one record per day.
TEST_F(AgentTest, ABatchAcrossMidnightHoldsOneRecordPerDayOfTheServicesZone) {
  ASSERT_OK(parts_.store().SaveTimeZone("Europe/Moscow"));  // UTC+3
  Start();
  const absl::Time midnight_msk =
      absl::FromCivil(absl::CivilSecond(2026, 3, 14, 0, 0, 0), Zone("Europe/Moscow"));
  Connect({Event(kUidA, "192.0.2.1", 443, midnight_msk - absl::Seconds(1)),
           Event(kUidA, "192.0.2.1", 443, midnight_msk - absl::Seconds(1)),
           Event(kUidA, "192.0.2.1", 443, midnight_msk)});
  Stop();
  EXPECT_EQ(Totals(parts_.spool().appended()),
            (std::map<std::string, uint64_t>{{"2001 2026-3-13 accept", 2},
                                             {"2001 2026-3-14 accept", 1}}));
}

TEST_F(AgentTest, TheWelcomesTimeZoneDecidesLaterDaysAndIsPersisted) {
  Start();
  const absl::Time t = Utc(2026, 3, 13, 22, 30, 0);  // 13th in UTC, 14th in Tokyo
  Connect({Event(kUidA, "192.0.2.1", 443, t)});
  v1::Welcome welcome;
  welcome.set_time_zone("Asia/Tokyo");
  *welcome.mutable_rule_set() = Rules(1);
  EXPECT_EQ(parts_.uplink()->Connect(welcome).error(), "");
  Connect({Event(kUidA, "192.0.2.1", 443, t)});
  Stop();
  EXPECT_EQ(parts_.store().time_zone(), "Asia/Tokyo");
  EXPECT_EQ(Totals(parts_.spool().appended()),
            (std::map<std::string, uint64_t>{{"2001 2026-3-13 accept", 1},
                                             {"2001 2026-3-14 accept", 1}}));

  // The next start keeps the zone while the service is unreachable.
  parts_.set_offline(true);
  Start();
  Connect({Event(kUidB, "192.0.2.1", 443, t)});
  Stop();
  EXPECT_EQ(Totals({parts_.spool().appended().back()}),
            (std::map<std::string, uint64_t>{{"2002 2026-3-14 accept", 1}}));
}

// On a day DST shortens (New York, 2026-03-08: 23 hours), events either side
// of both local midnights land on the right days.
TEST_F(AgentTest, DaysFollowTheZoneAcrossADstChange) {
  ASSERT_OK(parts_.store().SaveTimeZone("America/New_York"));
  Start();
  const absl::TimeZone ny = Zone("America/New_York");
  const absl::Time start = absl::FromCivil(absl::CivilSecond(2026, 3, 8, 0, 0, 0), ny);
  const absl::Time end = absl::FromCivil(absl::CivilSecond(2026, 3, 9, 0, 0, 0), ny);
  ASSERT_EQ(end - start, absl::Hours(23));
  Connect({Event(kUidA, "192.0.2.1", 443, start - absl::Seconds(1)),
           Event(kUidA, "192.0.2.1", 443, start),
           Event(kUidA, "192.0.2.1", 443, start + absl::Hours(3)),  // after the change
           Event(kUidA, "192.0.2.1", 443, end - absl::Seconds(1)),
           Event(kUidA, "192.0.2.1", 443, end)});
  Stop();
  EXPECT_EQ(
      Totals(parts_.spool().appended()),
      (std::map<std::string, uint64_t>{
          {"2001 2026-3-7 accept", 1}, {"2001 2026-3-8 accept", 3}, {"2001 2026-3-9 accept", 1}}));
}

TEST_F(AgentTest, AcceptsAndRejectsFromBothSourcesAreCountedApart) {
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  parts_.rejects()->Push(Event(kUidA, "192.0.2.1", 443, kStart, Action::kReject));
  parts_.rejects()->Push(Event(kUidA, "192.0.2.1", 443, kStart, Action::kReject));
  ASSERT_TRUE(parts_.rejects()->WaitUntilDrained(kWait));
  Stop();
  EXPECT_EQ(Totals(parts_.spool().appended()),
            (std::map<std::string, uint64_t>{{"2001 2026-3-13 accept", 1},
                                             {"2001 2026-3-13 reject", 2}}));
}

// ---- REJECTs counted by the kernel ----

// Waits until the spool holds `want` REJECTs in all.
bool WaitForRejects(FakeSpool& spool, uint64_t want) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    uint64_t n = 0;
    for (const v1::RecordBatch& b : spool.appended()) {
      for (const v1::ConnectionRecord& r : b.records()) {
        if (r.action() == v1::ACTION_REJECT) n += r.count();
      }
    }
    if (n == want) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

// Refused while no agent ran (a fresh table counts in generation a), sealed
// with the generation's mark, then switched; a switch that fails after the
// seal (as a kill between the two would leave it) never counts the same
// generation twice, not even across a restart.
TEST_F(AgentTest, KernelCountedRejectsAreSealedOnceAcrossAFailedSwitchAndARestart) {
  FakeRejectKernel& kernel = kernel_;
  parts_.set_reject_kernel(&kernel);
  kernel.Refuse(kUidA, "192.0.2.9", 443, 3);
  Start();
  // Start: generation a numbered; the first tick switches to b (a holds 3),
  // the next reads a and switches back.
  const auto tick = [&](int switches) {
    clock_.Advance(kInterval);
    parts_.conntrack()->Wake();
    const absl::Time deadline = absl::Now() + kWait;
    while (kernel.switches() < switches && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  };
  tick(2);
  ASSERT_TRUE(WaitForRejects(parts_.spool(), 3));
  EXPECT_GT(parts_.spool().stats().reject_mark, 0u);

  // 2 more, made idle by one more switch; then the switch after their seal
  // fails (what a kill between the seal and the switch leaves).
  kernel.Refuse(kUidA, "192.0.2.9", 443, 2);
  tick(3);
  ASSERT_EQ(kernel.switches(), 3);
  kernel.FailSwitches(true);
  clock_.Advance(kInterval);
  parts_.conntrack()->Wake();
  ASSERT_TRUE(WaitForRejects(parts_.spool(), 5));
  Stop();
  EXPECT_EQ(kernel.switches(), 3);

  // A new agent, switches work again: the sealed generation is only
  // flushed, never counted again; what comes next is counted.
  kernel.FailSwitches(false);
  Start();
  kernel.Refuse(kUidA, "192.0.2.9", 443, 1);
  tick(kernel.switches() + 1);
  tick(kernel.switches() + 1);
  ASSERT_TRUE(WaitForRejects(parts_.spool(), 6));
  Stop();
  EXPECT_EQ(Totals(parts_.spool().appended()),
            (std::map<std::string, uint64_t>{{"2001 2026-3-13 reject", 6}}));
}

// ---- High-water mark and restart ----

// Each batch is sealed with the time the conntrack source was last read
// empty: every connection that started before it is in this or an earlier
// batch.
TEST_F(AgentTest, EachBatchIsSealedWithWhenTheSourceWasLastDrained) {
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  AdvanceAndWaitForBatches(kInterval, 1);
  EXPECT_EQ(parts_.spool().stats().high_water_mark, Nanos(kStart + kInterval));
  Connect({Event(kUidA, "192.0.2.1", 443, kStart + kInterval)});
  AdvanceAndWaitForBatches(kInterval, 2);
  EXPECT_EQ(parts_.spool().stats().high_water_mark, Nanos(kStart + 2 * kInterval));
}

// Sealed while events are still queued (a burst longer than a seal reads),
// the mark stays at the last drain: a resync from it recounts nothing that
// was counted, and misses nothing that was queued.
TEST_F(AgentTest, TheMarkStaysAtTheLastDrainWhileEventsAreQueued) {
  config_.max_wakeup_events = 1;
  Start();  // drained at kStart
  clock_.Advance(kInterval);
  parts_.conntrack()->PushAll(
      std::vector<ConnectionEvent>(1000, Event(kUidA, "192.0.2.1", 443, kStart)));
  ASSERT_TRUE(parts_.spool().WaitForAppended(1, kWait));
  const v1::RecordBatch first = parts_.spool().appended()[0];
  ASSERT_EQ(first.records_size(), 1);
  EXPECT_LT(first.records(0).count(), 1000u);
  EXPECT_EQ(parts_.spool().stats().high_water_mark, Nanos(kStart));

  ASSERT_TRUE(parts_.conntrack()->WaitUntilDrained(kWait));
  AdvanceAndWaitForBatches(kInterval, 2);
  EXPECT_EQ(parts_.spool().stats().high_water_mark, Nanos(kStart + 2 * kInterval));
  Stop();
  EXPECT_EQ(Totals(parts_.spool().appended()),
            (std::map<std::string, uint64_t>{{"2001 2026-3-13 accept", 1000}}));
}

TEST_F(AgentTest, AFreshSpoolResyncsNothing) {
  Start();
  Stop();
  Start();
  EXPECT_THAT(parts_.conntrack()->resync_calls(), IsEmpty());
  EXPECT_EQ(agent_->Counters().resynced_events, 0u);
}

// What the service acknowledged is gone from the spool; what it did not is
// resent after a restart; connections made while the agent was down are
// recounted from the conntrack table from the high-water mark on, each once.
TEST_F(AgentTest, ARestartResendsWhatIsUnackedAndRecountsFromTheHighWaterMark) {
  Start();
  v1::Welcome welcome;
  welcome.set_time_zone("UTC");
  *welcome.mutable_rule_set() = Rules(1);
  parts_.uplink()->Connect(welcome);
  Connect({Event(kUidA, "192.0.2.1", 443, kStart), Event(kUidA, "192.0.2.1", 443, kStart)});
  AdvanceAndWaitForBatches(kInterval, 1);
  Connect({Event(kUidA, "192.0.2.1", 443, kStart + kInterval)});
  AdvanceAndWaitForBatches(kInterval, 2);
  const uint64_t mark = parts_.spool().stats().high_water_mark;
  ASSERT_EQ(mark, Nanos(kStart + 2 * kInterval));
  std::vector<v1::RecordBatch> sent = parts_.uplink()->Unsent();
  ASSERT_EQ(sent.size(), 2u);
  ASSERT_OK(parts_.uplink()->Ack(sent[0].seq()));  // the second is never acked
  // Stopped with nothing counted since the last seal: no new batch.
  Stop();
  ASSERT_EQ(parts_.spool().appended().size(), 2u);

  // Down for 5 s: the kernel still knows connections from before the mark
  // (already counted) and from after it (missed).
  clock_.Advance(absl::Seconds(5));
  const absl::Time before = absl::FromUnixNanos(static_cast<int64_t>(mark)) - absl::Seconds(1);
  const absl::Time after = absl::FromUnixNanos(static_cast<int64_t>(mark)) + absl::Seconds(2);
  welcome.set_last_committed_seq(sent[1].seq() - 1);
  config_.batch_interval = absl::Hours(1);
  auto agent = Agent::Create(config_, &parts_, &clock_);
  ASSERT_OK(agent.status());
  agent_ = *std::move(agent);
  parts_.conntrack()->SetTable({Event(kUidA, "192.0.2.1", 443, before),
                                Event(kUidB, "192.0.2.9", 22, after),
                                Event(kUidB, "192.0.2.9", 22, after)});
  loop_ = std::thread([this] { run_status_ = agent_->Run(); });
  parts_.conntrack()->Wake();
  ASSERT_TRUE(parts_.conntrack()->WaitUntilDrained(kWait));
  EXPECT_THAT(parts_.conntrack()->resync_calls(), ElementsAre(mark));
  EXPECT_EQ(agent_->Counters().resynced_events, 2u);

  // The service committed batch 1 only: batch 2 goes out again.
  parts_.uplink()->Connect(welcome);
  sent = parts_.uplink()->Unsent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].seq(), 2u);
  Stop();
  const std::vector<v1::RecordBatch> all = parts_.spool().appended();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].seq(), 3u);
  EXPECT_EQ(Totals({all[2]}), (std::map<std::string, uint64_t>{{"2002 2026-3-13 accept", 2}}));
  // Down less than the resync window: no day is flagged.
  EXPECT_THAT(Losses(all), IsEmpty());
}

TEST_F(AgentTest, StopSealsWhatIsCountedAndWaitsForTheAcks) {
  config_.batch_interval = absl::Hours(1);
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  FakeUplink* uplink = parts_.uplink();
  agent_->RequestShutdown();
  loop_.join();
  EXPECT_OK(run_status_);
  ASSERT_EQ(parts_.spool().appended().size(), 1u);
  EXPECT_EQ(uplink->wait_for_acks_calls(), 1);
  EXPECT_TRUE(uplink->stopped());
  // Unacked: it stays in the spool for the next start.
  EXPECT_EQ(parts_.spool().batches().size(), 1u);
  agent_.reset();
}

// ---- Losses ----

TEST_F(AgentTest, AnOverrunThatLostEventsIsReportedForTheDayOfItsDiscovery) {
  Start();
  parts_.conntrack()->AddLost(7);
  parts_.rejects()->AddLost(4);
  AdvanceAndWaitForBatches(kInterval, 1);
  const v1::RecordBatch batch = parts_.spool().appended()[0];
  EXPECT_EQ(batch.records_size(), 0);
  ASSERT_EQ(batch.losses_size(), 2);
  std::map<v1::LossReport::Reason, v1::LossReport> by_reason;
  for (const v1::LossReport& l : batch.losses()) by_reason[l.reason()] = l;
  const v1::LossReport& netlink = by_reason[v1::LossReport::REASON_NETLINK_OVERRUN];
  EXPECT_EQ(netlink.events(), 7u);
  // An overrun cannot tell how many it dropped: 7 is a lower bound.
  EXPECT_TRUE(netlink.size_unknown());
  EXPECT_EQ(Day(netlink.day()), "2026-3-13");
  const v1::LossReport& rejects = by_reason[v1::LossReport::REASON_REJECT_LOG_OVERRUN];
  EXPECT_EQ(rejects.events(), 4u);  // exact: NFLOG numbers its messages
  EXPECT_FALSE(rejects.size_unknown());

  const agent::AgentCounters counters = agent_->Counters();
  EXPECT_EQ(counters.conntrack.lost, 7u);
  EXPECT_EQ(counters.nflog.lost, 4u);
  EXPECT_EQ(agent_->Stats().netlink_overruns(), 2u);
}

TEST_F(AgentTest, ARecoveredOverrunStillFlagsTheDayAsPossiblyIncomplete) {
  Start();
  parts_.conntrack()->AddRecoveredOverrun();
  AdvanceAndWaitForBatches(kInterval, 1);
  const v1::RecordBatch batch = parts_.spool().appended()[0];
  ASSERT_EQ(batch.losses_size(), 1);
  EXPECT_EQ(batch.losses(0).reason(), v1::LossReport::REASON_NETLINK_OVERRUN);
  EXPECT_EQ(batch.losses(0).events(), 0u);
  EXPECT_TRUE(batch.losses(0).size_unknown());
  // Taken once: the next batch carries no loss.
  Connect({Event(kUidA, "192.0.2.1", 443, clock_.Now())});
  AdvanceAndWaitForBatches(kInterval, 2);
  EXPECT_EQ(parts_.spool().appended()[1].losses_size(), 0);
}

TEST_F(AgentTest, SpoolOverflowLossesGoOutWithTheNextBatchEvenWithoutRecords) {
  Start();
  v1::LossReport dropped;
  dropped.set_reason(v1::LossReport::REASON_SPOOL_OVERFLOW);
  dropped.set_events(120);
  dropped.mutable_day()->set_year(2026);
  dropped.mutable_day()->set_month(3);
  dropped.mutable_day()->set_day(12);
  parts_.spool().AddOverflowLoss(dropped);
  AdvanceAndWaitForBatches(kInterval, 1);
  const v1::RecordBatch batch = parts_.spool().appended()[0];
  ASSERT_EQ(batch.losses_size(), 1);
  EXPECT_EQ(batch.losses(0).reason(), v1::LossReport::REASON_SPOOL_OVERFLOW);
  EXPECT_EQ(batch.losses(0).events(), 120u);
}

// Down longer than conntrack keeps a closed connection: the resync may have
// missed some, so the day of the restart is flagged (0 events, size unknown).
TEST_F(AgentTest, DowntimeBeyondTheResyncWindowFlagsTheDay) {
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  Stop();
  clock_.Advance(absl::Seconds(11));  // the fake's window is 10 s
  Start();
  Stop();
  const std::vector<v1::LossReport> losses = Losses(parts_.spool().appended());
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].reason(), v1::LossReport::REASON_RESYNC_WINDOW_EXCEEDED);
  EXPECT_EQ(losses[0].events(), 0u);
  EXPECT_TRUE(losses[0].size_unknown());
  EXPECT_EQ(Day(losses[0].day()), "2026-3-13");
}

TEST_F(AgentTest, DowntimeWithinTheResyncWindowFlagsNothing) {
  Start();
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  Stop();
  clock_.Advance(absl::Seconds(9));
  Start();
  Stop();
  EXPECT_THAT(Losses(parts_.spool().appended()), IsEmpty());
}

// A batch the spool refuses (disk full) is gone: not counted as sealed, and
// the agent keeps counting into the next one.
TEST_F(AgentTest, ABatchTheSpoolRefusesIsNotCountedAsSealed) {
  Start();
  parts_.spool().FailAppends(absl::ResourceExhaustedError("No space left on device"));
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  agent_->RequestSeal();
  ASSERT_TRUE(parts_.spool().WaitForAppendCalls(1, kWait));
  EXPECT_EQ(agent_->Counters().batches_sealed, 0u);
  EXPECT_EQ(agent_->Counters().records, 0u);
  parts_.spool().FailAppends(absl::OkStatus());
  Connect({Event(kUidB, "192.0.2.1", 443, kStart)});
  Stop();
  EXPECT_EQ(Totals(parts_.spool().appended()),
            (std::map<std::string, uint64_t>{{"2002 2026-3-13 accept", 1}}));
}

TEST_F(AgentTest, WithoutAServiceRecordsStayInTheSpool) {
  parts_.set_offline(true);
  Start();
  EXPECT_THAT(parts_.opened(),
              ElementsAre("state", "spool", "enforcer", "conntrack", "rejects", "uplink"));
  EXPECT_FALSE(agent_->Counters().has_uplink);
  EXPECT_EQ(agent_->Counters().conntrack_events_sysctl, 1);
  Connect({Event(kUidA, "192.0.2.1", 443, kStart)});
  Stop();
  EXPECT_EQ(parts_.spool().batches().size(), 1u);
}

// An unusable socket is not an overrun: Run() returns its error (the process
// exits and its supervisor restarts it with fresh sockets).
TEST_F(AgentTest, AnUnusableSourceEndsTheRunWithItsError) {
  Start();
  parts_.rejects()->FailNextRead(absl::InternalError("recv: Bad file descriptor"));
  loop_.join();
  EXPECT_THAT(run_status_, StatusIs(absl::StatusCode::kInternal));
  agent_.reset();
}

// ---- Rules at boot ----

// What was enforced before a restart is enforced again before the service
// is reachable, and before anything else opens.
TEST_F(AgentTest, PersistedRulesAreAppliedBeforeTheUplinkStarts) {
  ASSERT_OK(parts_.store().SaveRuleSet(Rules(5)));
  std::optional<v1::RuleSet> installed_at_uplink_start;
  parts_.set_on_uplink_start([&] { installed_at_uplink_start = parts_.enforcer().installed(); });
  Start();
  ASSERT_TRUE(installed_at_uplink_start.has_value()) << "the uplink started before the rules";
  EXPECT_EQ(installed_at_uplink_start->version(), 5u);
  EXPECT_EQ(installed_at_uplink_start->accounts(0).rules(0).network(), "192.0.2.7/32");
  EXPECT_THAT(parts_.enforcer().applied_versions(), ElementsAre(5u));
  EXPECT_THAT(parts_.opened(),
              ElementsAre("state", "spool", "enforcer", "conntrack", "rejects", "uplink"));
  EXPECT_EQ(agent_->Counters().applied_rule_version, 5u);
  EXPECT_EQ(agent_->Stats().applied_rule_version(), 5u);
}

TEST_F(AgentTest, WithNothingPersistedAnEmptyRuleSetIsInstalled) {
  Start();
  ASSERT_TRUE(parts_.enforcer().installed().has_value()) << "the table must exist (marks)";
  EXPECT_EQ(parts_.enforcer().installed()->accounts_size(), 0);
  EXPECT_FALSE(parts_.store().rules().has_value()) << "nothing the service sent to persist";
  EXPECT_EQ(agent_->Counters().applied_rule_version, 0u);
}

// A wiped state directory while the kernel still holds the earlier agent's
// table: it stays as it is (attribution, blocks) until the service's Welcome.
TEST_F(AgentTest, AWipedStateKeepsTheInstalledTableUntilTheWelcome) {
  ASSERT_OK(parts_.enforcer().Apply(Rules(4)));
  Start();
  ASSERT_TRUE(parts_.enforcer().installed().has_value());
  EXPECT_EQ(parts_.enforcer().installed()->version(), 4u);
  EXPECT_EQ(parts_.enforcer().applied_versions(), (std::vector<uint64_t>{4}));
}

// A reboot empties the kernel; the service is unreachable: the rules of the
// last Welcome are enforced again from the state store.
TEST_F(AgentTest, RulesFromTheServiceAreReplayedAfterARebootWithoutIt) {
  Start();
  v1::Welcome welcome;
  *welcome.mutable_rule_set() = Rules(8);
  EXPECT_EQ(parts_.uplink()->Connect(welcome).version(), 8u);
  v1::RuleSet update = Rules(9);
  update.mutable_accounts(0)->set_block_all(true);
  ASSERT_TRUE(parts_.uplink()->PushRuleSet(update).has_value());
  Stop();
  EXPECT_EQ(parts_.store().rules()->version(), 9u);

  parts_.enforcer().Reboot();
  parts_.set_offline(true);
  Start();
  ASSERT_TRUE(parts_.enforcer().installed().has_value());
  EXPECT_EQ(parts_.enforcer().installed()->version(), 9u);
  EXPECT_TRUE(parts_.enforcer().installed()->accounts(0).block_all());
}

// A persisted rule set the kernel refuses is reported; the agent still
// starts, to receive a good one from the service.
TEST_F(AgentTest, APersistedRuleSetTheKernelRefusesIsCountedAndTheAgentStarts) {
  ASSERT_OK(parts_.store().SaveRuleSet(Rules(5)));
  parts_.enforcer().FailVersion(5);
  Start();
  EXPECT_EQ(agent_->Counters().nft_errors, 1u);
  EXPECT_EQ(agent_->Counters().received_rule_version, 5u);
  EXPECT_EQ(agent_->Counters().applied_rule_version, 0u);
  v1::Welcome welcome;
  *welcome.mutable_rule_set() = Rules(6);
  EXPECT_EQ(parts_.uplink()->Connect(welcome).error(), "");
  EXPECT_EQ(agent_->Counters().applied_rule_version, 6u);
}

TEST_F(AgentTest, AnUnreadablePersistedRuleSetStopsTheStart) {
  ASSERT_OK(parts_.store().SaveRuleSet(Rules(5)));
  parts_.store().CorruptRuleSet();
  EXPECT_THAT(Agent::Create(config_, &parts_, &clock_).status(),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(parts_.opened(), ElementsAre("state", "spool", "enforcer"));
}

TEST_F(AgentTest, ARuleSetThatFailsLeavesTheRulesInForceAndIsNotPersisted) {
  Start();
  v1::Welcome welcome;
  *welcome.mutable_rule_set() = Rules(3);
  parts_.uplink()->Connect(welcome);
  parts_.enforcer().FailVersion(4);
  std::optional<v1::RulesApplied> applied = parts_.uplink()->PushRuleSet(Rules(4));
  ASSERT_TRUE(applied.has_value());
  EXPECT_NE(applied->error(), "");
  EXPECT_EQ(parts_.enforcer().installed()->version(), 3u);
  EXPECT_EQ(parts_.store().rules()->version(), 3u);
  EXPECT_EQ(agent_->Counters().nft_errors, 1u);
}

TEST_F(AgentTest, RulesStayInForceOnExitUnlessAskedToRemoveThem) {
  Start();
  Stop();
  EXPECT_EQ(parts_.enforcer().removes(), 0);
  config_.remove_rules_on_exit = true;
  Start();
  Stop();
  EXPECT_EQ(parts_.enforcer().removes(), 1);
}

TEST_F(AgentTest, APartThatFailsToOpenFailsTheStartAfterTheRulesAreInForce) {
  ASSERT_OK(parts_.store().SaveRuleSet(Rules(5)));
  parts_.FailOpen("rejects", absl::UnavailableError("group 7 is bound by another process"));
  EXPECT_THAT(Agent::Create(config_, &parts_, &clock_).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  // Fail closed: the persisted blocks hold although the agent is not running.
  ASSERT_TRUE(parts_.enforcer().installed().has_value());
  EXPECT_EQ(parts_.enforcer().installed()->version(), 5u);
}

}  // namespace
}  // namespace egress::testing
