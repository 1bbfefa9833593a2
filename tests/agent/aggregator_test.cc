#include "agent/aggregator.h"

#include "absl/time/civil_time.h"
#include "common/civil_day.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress::agent {
namespace {

ConnectionEvent Event(uint32_t uid, const char* ip, Protocol protocol, uint16_t port,
                      absl::Time time, Action action = Action::kAccept) {
  ConnectionEvent e;
  e.uid = uid;
  e.dst = *IpAddress::Parse(ip);
  e.protocol = protocol;
  e.dst_port = port;
  e.time = time;
  e.action = action;
  return e;
}

TEST(AggregatorTest, CountsPerKeyWithFirstAndLastSeen) {
  Aggregator agg(100, absl::UTCTimeZone());
  const absl::Time t0 =
      absl::FromCivil(absl::CivilSecond(2026, 3, 1, 10, 0, 0), absl::UTCTimeZone());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(agg.Add(Event(1000, "192.0.2.1", Protocol::kTcp, 443, t0 + absl::Seconds(i))));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        agg.Add(Event(1001, "2001:db8::1", Protocol::kUdp, 53, t0 + absl::Seconds(10 - i))));
  }
  ASSERT_TRUE(agg.Add(Event(1000, "192.0.2.1", Protocol::kTcp, 443, t0, Action::kReject)));
  EXPECT_EQ(agg.size(), 3u);
  EXPECT_EQ(agg.events(), 9u);

  v1::RecordBatch batch;
  agg.DrainInto(&batch);
  EXPECT_TRUE(agg.empty());
  ASSERT_EQ(batch.records_size(), 3);
  const v1::ConnectionRecord& a = batch.records(0);
  EXPECT_EQ(a.uid(), 1000u);
  EXPECT_EQ(a.dst_ip(), std::string("\xc0\x00\x02\x01", 4));
  EXPECT_EQ(a.protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(a.dst_port(), 443u);
  EXPECT_EQ(a.action(), v1::ACTION_ACCEPT);
  EXPECT_EQ(a.count(), 5u);
  EXPECT_EQ(a.first_seen().seconds(), absl::ToUnixSeconds(t0));
  EXPECT_EQ(a.last_seen().seconds(), absl::ToUnixSeconds(t0) + 4);
  EXPECT_EQ(a.day().year(), 2026);
  EXPECT_EQ(a.day().month(), 3);
  EXPECT_EQ(a.day().day(), 1);
  EXPECT_EQ(batch.records(1).action(), v1::ACTION_REJECT);
  EXPECT_EQ(batch.records(1).count(), 1u);
  const v1::ConnectionRecord& b = batch.records(2);
  EXPECT_EQ(b.uid(), 1001u);
  EXPECT_EQ(b.dst_ip().size(), 16u);
  EXPECT_EQ(b.count(), 3u);
  EXPECT_EQ(b.first_seen().seconds(), absl::ToUnixSeconds(t0) + 8);
  EXPECT_EQ(b.last_seen().seconds(), absl::ToUnixSeconds(t0) + 10);
}

TEST(AggregatorTest, DayFollowsTheTimeZone) {
  absl::TimeZone moscow = *LoadTimeZone("Europe/Moscow");
  Aggregator agg(100, moscow);
  // 22:30 UTC on 2026-03-01 is 01:30 on 2026-03-02 in Moscow.
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(2026, 3, 1, 22, 30, 0), absl::UTCTimeZone());
  agg.Add(Event(1000, "192.0.2.1", Protocol::kTcp, 443, t));
  agg.set_time_zone(absl::UTCTimeZone());
  agg.Add(Event(1000, "192.0.2.1", Protocol::kTcp, 443, t));
  v1::RecordBatch batch;
  agg.DrainInto(&batch);
  ASSERT_EQ(batch.records_size(), 2);
  EXPECT_EQ(batch.records(0).day().day(), 1);
  EXPECT_EQ(batch.records(1).day().day(), 2);
}

TEST(AggregatorTest, BoundedByDistinctKeys) {
  Aggregator agg(2, absl::UTCTimeZone());
  const absl::Time t = absl::FromUnixSeconds(1'770'000'000);
  EXPECT_TRUE(agg.Add(Event(1, "192.0.2.1", Protocol::kTcp, 1, t)));
  EXPECT_TRUE(agg.Add(Event(1, "192.0.2.2", Protocol::kTcp, 1, t)));
  EXPECT_TRUE(agg.full());
  // Existing keys still count; a new key is refused until drained.
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(agg.Add(Event(1, "192.0.2.1", Protocol::kTcp, 1, t)));
  EXPECT_FALSE(agg.Add(Event(1, "192.0.2.3", Protocol::kTcp, 1, t)));
  EXPECT_EQ(agg.size(), 2u);
  v1::RecordBatch batch;
  agg.DrainInto(&batch);
  EXPECT_EQ(batch.records(0).count(), 1001u);
  EXPECT_TRUE(agg.Add(Event(1, "192.0.2.3", Protocol::kTcp, 1, t)));
}

TEST(AggregatorTest, LossesAreReportedPerDayAndReason) {
  Aggregator agg(10, absl::UTCTimeZone());
  const absl::Time t = absl::FromCivil(absl::CivilSecond(2026, 3, 1, 0, 0, 1), absl::UTCTimeZone());
  agg.AddLoss(v1::LossReport::REASON_NETLINK_OVERRUN, t, 3);
  agg.AddLoss(v1::LossReport::REASON_NETLINK_OVERRUN, t, 2);
  // A loss of unknown size still marks the day, and says so.
  agg.AddLoss(v1::LossReport::REASON_REJECT_LOG_OVERRUN, t, 0, /*size_unknown=*/true);
  EXPECT_FALSE(agg.empty());
  v1::RecordBatch batch;
  agg.DrainInto(&batch);
  ASSERT_EQ(batch.losses_size(), 2);
  uint64_t netlink = 0, reject = 0;
  for (const auto& loss : batch.losses()) {
    EXPECT_EQ(loss.day().day(), 1);
    (loss.reason() == v1::LossReport::REASON_NETLINK_OVERRUN ? netlink : reject) += loss.events();
    EXPECT_EQ(loss.size_unknown(), loss.reason() == v1::LossReport::REASON_REJECT_LOG_OVERRUN);
  }
  EXPECT_EQ(netlink, 5u);
  EXPECT_EQ(reject, 0u);
}

}  // namespace
}  // namespace egress::agent
