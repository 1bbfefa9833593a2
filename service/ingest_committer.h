// Group commit of the agents' batches.
//
// Streams hand each validated batch to the committer and go on reading; a
// writer (a task on the ThreadPool) takes every batch waiting (of any node
// and stream, up to a record limit) and commits them as one transaction
// (CollectorStore::CommitBatches): the deltas are merged by key in memory,
// written once, and every batch's node sequence advances in the same
// transaction. Each batch's callback then runs with its own result, so a
// stream acknowledges a batch only after the transaction holding it
// committed.
//
// Order: a node's batches are committed in the order they were submitted,
// and never by two writers at once (a writer skips nodes another writer
// holds), so sequence checks and gaps are exactly those of one-by-one
// commits. A lane (one per stream) breaks when a group holding one of its
// batches fails: its queued batches fail too and later submissions fail at
// once, so a later batch can never commit after an earlier one of the same
// stream failed (the agent replays from the first unacknowledged batch).
#ifndef EGRESS_SERVICE_INGEST_COMMITTER_H_
#define EGRESS_SERVICE_INGEST_COMMITTER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/storage/collector_store.h"
#include "service/thread_pool.h"

namespace egress {

struct IngestCommitterOptions {
  // Groups committing at once (each on its own database connection).
  int max_writers = 2;
  // A group stops taking batches past this many records (a single larger
  // batch still commits alone).
  size_t max_group_records = 50000;
};

struct IngestCommitterStats {
  uint64_t groups = 0;
  uint64_t batches = 0;
  uint64_t failed_groups = 0;
  uint64_t largest_group = 0;  // batches
};

// Thread-safe. The store and pool must outlive it; the destructor waits for
// running writers (destroy the pool first, or stop submitting).
class IngestCommitter {
 public:
  // Called once per batch, on a writer thread, with the batch's result or
  // the group's error. Must not block; may call Submit.
  using Done = std::function<void(const absl::StatusOr<CommitResult>&)>;

  // The batches of one stream, in submission order.
  class Lane {
   private:
    friend class IngestCommitter;
    bool broken = false;  // guarded by the committer's mutex
    absl::Status error;
  };

  IngestCommitter(CollectorStore* store, ThreadPool* pool, IngestCommitterOptions options);
  ~IngestCommitter();
  IngestCommitter(const IngestCommitter&) = delete;
  IngestCommitter& operator=(const IngestCommitter&) = delete;

  std::shared_ptr<Lane> NewLane() { return std::make_shared<Lane>(); }

  // Queues `batch` (whose node_id must be the same for every batch of the
  // lane) and returns at once; `done` runs once it committed or failed.
  void Submit(const std::shared_ptr<Lane>& lane, IngestBatch batch, Done done);

  IngestCommitterStats stats() const;

 private:
  struct Item {
    std::shared_ptr<Lane> lane;
    IngestBatch batch;
    Done done;
  };

  // A writer: commits groups until nothing it may take is left.
  void Drain();

  CollectorStore& store_;
  ThreadPool& pool_;
  const IngestCommitterOptions options_;

  mutable absl::Mutex mutex_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mutex_);
  // Nodes whose batches a writer is committing.
  absl::flat_hash_set<std::string> busy_nodes_ ABSL_GUARDED_BY(mutex_);
  int writers_ ABSL_GUARDED_BY(mutex_) = 0;
  IngestCommitterStats stats_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_INGEST_COMMITTER_H_
