// Counts connection events per (uid, civil day, destination, protocol, port,
// action) and turns the counts into ConnectionRecords.
//
// Memory is bounded by distinct keys, never by events: Add() on an existing
// key only bumps a counter; a new key is refused once `max_keys` are held,
// and the caller drains first (full() tells it when). Pure logic, no I/O.
// Not thread-safe: one owner (the agent's event loop) calls everything.
#ifndef EGRESS_AGENT_AGGREGATOR_H_
#define EGRESS_AGENT_AGGREGATOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "agent/connection_event.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

class Aggregator {
 public:
  // `max_keys` >= 1. Days are civil days in `time_zone`.
  Aggregator(size_t max_keys, absl::TimeZone time_zone);

  // Takes effect for events added afterwards (keys already held keep their day).
  void set_time_zone(absl::TimeZone time_zone) {
    time_zone_ = time_zone;
    cached_day_start_ = cached_day_end_ = absl::InfinitePast();
  }
  absl::TimeZone time_zone() const { return time_zone_; }

  // Counts `event` `count` times (a kernel counter read at once). Returns
  // false (and counts nothing) only when the event needs a new key and
  // full(); the caller then drains and adds it again.
  bool Add(const ConnectionEvent& event, uint64_t count = 1);

  // Counts `events` lost for `reason` on the day of `when`. With
  // `size_unknown`, `events` is only what is known (0: "unknown, possibly
  // none") and the day's report says so (LossReport.size_unknown).
  void AddLoss(v1::LossReport::Reason reason, absl::Time when, uint64_t events,
               bool size_unknown = false);

  size_t size() const { return counts_.size(); }
  bool full() const { return counts_.size() >= max_keys_; }
  bool empty() const { return counts_.empty() && losses_.empty(); }
  // Events counted since construction.
  uint64_t events() const { return events_; }

  // Moves everything counted so far into `batch` (records and losses) and
  // starts from zero. Records come out in a deterministic order (sorted by
  // key) so batches are reproducible.
  void DrainInto(v1::RecordBatch* batch);

 private:
  struct Key {
    uint32_t uid;
    absl::CivilDay day;
    IpAddress dst;
    Protocol protocol;
    uint16_t dst_port;
    Action action;

    friend bool operator==(const Key&, const Key&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.uid, k.day, k.dst, k.protocol, k.dst_port, k.action);
    }
  };
  struct Counts {
    uint64_t count = 0;
    absl::Time first_seen;
    absl::Time last_seen;
  };
  struct LossKey {
    absl::CivilDay day;
    v1::LossReport::Reason reason;
    friend bool operator==(const LossKey&, const LossKey&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const LossKey& k) {
      return H::combine(std::move(h), k.day, k.reason);
    }
  };

  // The civil day of `t`; the last day's bounds are cached because time-zone
  // conversion dominates the cost of Add() and events come in time order.
  absl::CivilDay DayOf(absl::Time t);

  size_t max_keys_;
  absl::CivilDay cached_day_;
  absl::Time cached_day_start_ = absl::InfinitePast();
  absl::Time cached_day_end_ = absl::InfinitePast();
  absl::TimeZone time_zone_;
  absl::flat_hash_map<Key, Counts> counts_;
  struct Loss {
    uint64_t events = 0;
    bool size_unknown = false;
  };
  absl::flat_hash_map<LossKey, Loss> losses_;
  uint64_t events_ = 0;
};

// Conversions between the agent's and the wire's enums.
v1::Protocol ToProto(Protocol protocol);
v1::Action ToProto(Action action);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_AGGREGATOR_H_
