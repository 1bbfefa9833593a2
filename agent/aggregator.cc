#include "agent/aggregator.h"

#include <algorithm>
#include <tuple>

#include "common/civil_day.h"
#include "common/protocol_proto.h"

namespace egress::agent {
namespace {

void SetDate(absl::CivilDay day, v1::Date* date) {
  date->set_year(static_cast<int32_t>(day.year()));
  date->set_month(day.month());
  date->set_day(day.day());
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

}  // namespace

v1::Protocol ToProto(Protocol protocol) { return ProtocolToProto(protocol); }

v1::Action ToProto(Action action) {
  return action == Action::kAccept ? v1::ACTION_ACCEPT : v1::ACTION_REJECT;
}

Aggregator::Aggregator(size_t max_keys, absl::TimeZone time_zone)
    : max_keys_(std::max<size_t>(max_keys, 1)), time_zone_(time_zone) {}

absl::CivilDay Aggregator::DayOf(absl::Time t) {
  if (t >= cached_day_start_ && t < cached_day_end_) return cached_day_;
  cached_day_ = absl::ToCivilDay(t, time_zone_);
  cached_day_start_ = StartOfDay(cached_day_, time_zone_);
  cached_day_end_ = StartOfDay(cached_day_ + 1, time_zone_);
  if (!(t >= cached_day_start_ && t < cached_day_end_)) {
    // A day that DST made odd: do not cache it.
    cached_day_start_ = cached_day_end_ = absl::InfinitePast();
  }
  return cached_day_;
}

bool Aggregator::Add(const ConnectionEvent& event, uint64_t count) {
  const Key key{event.uid,      DayOf(event.time), event.dst,
                event.protocol, event.dst_port,    event.action};
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    if (full()) return false;
    it = counts_.emplace(key, Counts{0, event.time, event.time}).first;
  }
  Counts& c = it->second;
  c.count += count;
  c.first_seen = std::min(c.first_seen, event.time);
  c.last_seen = std::max(c.last_seen, event.time);
  events_ += count;
  return true;
}

void Aggregator::AddLoss(v1::LossReport::Reason reason, absl::Time when, uint64_t events,
                         bool size_unknown) {
  Loss& loss = losses_[LossKey{absl::ToCivilDay(when, time_zone_), reason}];
  loss.events += events;
  loss.size_unknown = loss.size_unknown || size_unknown;
}

void Aggregator::DrainInto(v1::RecordBatch* batch) {
  std::vector<std::pair<Key, Counts>> sorted(counts_.begin(), counts_.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.uid, a.first.day, a.first.dst, a.first.protocol, a.first.dst_port,
                    a.first.action) < std::tie(b.first.uid, b.first.day, b.first.dst,
                                               b.first.protocol, b.first.dst_port, b.first.action);
  });
  batch->mutable_records()->Reserve(batch->records_size() + static_cast<int>(sorted.size()));
  for (const auto& [key, counts] : sorted) {
    v1::ConnectionRecord* r = batch->add_records();
    r->set_uid(key.uid);
    SetDate(key.day, r->mutable_day());
    const auto bytes = key.dst.bytes();
    r->set_dst_ip(std::string(bytes.begin(), bytes.end()));
    r->set_protocol(ToProto(key.protocol));
    r->set_dst_port(key.dst_port);
    r->set_action(ToProto(key.action));
    r->set_count(counts.count);
    SetTimestamp(counts.first_seen, r->mutable_first_seen());
    SetTimestamp(counts.last_seen, r->mutable_last_seen());
  }
  for (const auto& [key, loss] : losses_) {
    v1::LossReport* l = batch->add_losses();
    SetDate(key.day, l->mutable_day());
    l->set_reason(key.reason);
    l->set_events(loss.events);
    l->set_size_unknown(loss.size_unknown);
  }
  counts_.clear();
  losses_.clear();
}

}  // namespace egress::agent
