// The ingest journal's folding side (journal mode of PgCollectorStore): the
// seam between the folder's schedule and the database.
#ifndef EGRESS_SERVICE_STORAGE_INGEST_JOURNAL_H_
#define EGRESS_SERVICE_STORAGE_INGEST_JOURNAL_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace egress {

struct JournalFold {
  // Another folder (of this or another replica) held the fold lock: nothing
  // was done; it folds what is waiting.
  bool busy = false;
  uint64_t entries = 0;  // journal entries folded and deleted
  uint64_t records = 0;  // their merged records
  uint64_t rows = 0;     // connection_daily rows written (keys after merging)
  // More entries were waiting than this fold took.
  bool more = false;
};

struct JournalBacklog {
  uint64_t entries = 0;
  uint64_t records = 0;
  absl::Duration oldest_age;  // zero when empty
};

// Thread-safe.
class IngestJournal {
 public:
  virtual ~IngestJournal() = default;

  // Entries are spread over shards 0..journal_shards()-1 by account, so
  // folds of different shards write disjoint rows and run side by side.
  virtual int journal_shards() const = 0;

  // One transaction: takes the shard's oldest entries holding up to
  // `max_records` records (at least one entry), merges them by key, writes
  // them to the aggregates and totals, and deletes them. On error nothing
  // changes.
  virtual absl::StatusOr<JournalFold> FoldJournal(int shard, size_t max_records) = 0;

  virtual absl::StatusOr<JournalBacklog> ReadJournalBacklog() = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_INGEST_JOURNAL_H_
