// Durable queue of sealed RecordBatches waiting for the service's ack.
//
// Contract:
//  - Append() gives the batch the next sequence number (strictly increasing
//    per node, never reused: it survives restarts) and stores it; once it
//    returns OK the batch survives a crash of the process (and, with an
//    fsync-per-batch policy, of the machine).
//  - AckThrough(seq) forgets every batch up to `seq` and persists that; later
//    batches stay. Sequence numbers at or below an ack are never handed out.
//  - NextAfter(seq) returns the oldest stored batch with a sequence above
//    `seq` (NotFound if none), so the uplink can replay in order.
//  - Anchor(last_committed_seq) is called with every Welcome, before
//    AckThrough(last_committed_seq). A spool that has never been anchored (a
//    fresh state directory) cannot have sent anything yet (batches go out only
//    after a Welcome), so its batches were numbered from 1 without knowing the
//    node's history: the first Anchor renumbers them to follow
//    `last_committed_seq` (otherwise the ack would drop them as committed) and
//    persists "anchored" in the same atomic step. Later calls change nothing.
//  - Size is bounded: when an Append would exceed the limit, the oldest
//    unacked batches are dropped, counted (dropped_batches) and turned into
//    LossReports (TakeOverflowLosses) so the loss reaches the service.
// Implementations are thread-safe.
#ifndef EGRESS_AGENT_SPOOL_H_
#define EGRESS_AGENT_SPOOL_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

struct SpoolStats {
  uint64_t bytes = 0;
  // The size at which the oldest batches are dropped (0: no limit known), so
  // that `bytes` can be read as a fraction of it.
  uint64_t max_bytes = 0;
  uint64_t batches = 0;
  uint64_t acked_seq = 0;
  uint64_t next_seq = 1;
  uint64_t dropped_batches = 0;
  // The latest high-water mark stored (0 if none): after a crash, the agent
  // recounts connections that started after it.
  uint64_t high_water_mark = 0;
  // The latest REJECT counting mark stored (reject_count_sets.h; 0 if
  // none): kernel generations at or below it are in the spool already.
  uint64_t reject_mark = 0;
  // True once a Welcome anchored the numbering (see Anchor()).
  bool anchored = false;
  // Batches renumbered by Anchor() (0 or the number of pre-Welcome batches).
  uint64_t renumbered_batches = 0;
  // Records found damaged at load (bad checksum, torn write) and discarded.
  uint64_t corrupt_records = 0;
};

class Spool {
 public:
  virtual ~Spool() = default;
  // Sets batch->seq and stores it with `high_water_mark` (the start time,
  // in Unix nanoseconds, of the latest connection counted in this or an
  // earlier batch) and `reject_mark` (0: unchanged) in one atomic record;
  // returns the sequence. Both marks only grow, and survive the batch's ack.
  virtual absl::StatusOr<uint64_t> Append(v1::RecordBatch* batch, uint64_t high_water_mark,
                                          uint64_t reject_mark = 0) = 0;
  virtual absl::Status Anchor(uint64_t last_committed_seq) = 0;
  virtual absl::Status AckThrough(uint64_t seq) = 0;
  virtual absl::StatusOr<v1::RecordBatch> NextAfter(uint64_t seq) = 0;
  virtual std::vector<v1::LossReport> TakeOverflowLosses() = 0;
  virtual SpoolStats stats() const = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_SPOOL_H_
