// Folds the ingest journal into the aggregates, in the background (journal
// mode, see IngestMode::kJournal): every `interval` it merges what the group
// commits appended since, one transaction per fold, and at once again while
// a backlog remains (after an outage or a burst), logging progress. Each
// journal shard has its own thread (and database connection); the shards
// take turns, leaving a core to the group commits, until a backlog builds
// up (a flood of new keys), when they fold side by side on as many cores.
// Every replica runs one folder; the store's per-shard fold lock lets one
// fold a shard at a time and the others skip their turn, so any replica
// drains the journal, also what a stopped or crashed one left.
//
// The interval trades panel freshness for write work: acknowledged records
// reach ListConnections within about one interval plus one fold, and a key
// that recurs within an interval is written once.
//
// When more than `max_backlog_records` wait (folds slower than ingest, e.g.
// a flood of new keys, which merging cannot shrink), the folder says so
// (on_full): the store then writes groups straight into the aggregates
// until the backlog is back under the limit, so acknowledgements slow down
// to the database's real pace (agents keep the rest in their spools) rather
// than the panel falling ever further behind.
#ifndef EGRESS_SERVICE_INGEST_JOURNAL_FOLDER_H_
#define EGRESS_SERVICE_INGEST_JOURNAL_FOLDER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "service/storage/ingest_journal.h"

namespace egress {

struct IngestJournalFolderOptions {
  absl::Duration interval = absl::Milliseconds(250);
  // Records one fold transaction takes at most (its memory: ~100 bytes each).
  size_t max_records = 500000;
  // Journaled records beyond which group commits write the daily counts
  // directly (on_full) until the folds catch up.
  uint64_t max_backlog_records = 1000000;
  // Journaled records below which the shards fold one at a time (fresh
  // acks need a free core); above it they fold side by side to catch up.
  uint64_t parallel_backlog_records = 250000;
  // Wait after a failed fold (database down): the entries stay and are
  // folded once it is back.
  absl::Duration retry_after_error = absl::Seconds(1);
  // Runs on a folder thread after a fold that wrote rows (e.g. to wake the
  // enrichment worker for the destinations it queued).
  std::function<void()> on_folded;
  // Runs on a folder thread when the backlog goes over max_backlog_records
  // (true) and back under it (false); false also when the folder stops.
  std::function<void(bool full)> on_full;
};

struct IngestJournalFolderStats {
  uint64_t folds = 0;  // that folded at least one entry
  uint64_t entries = 0;
  uint64_t records = 0;
  uint64_t rows = 0;
  uint64_t failures = 0;
  absl::Duration last_fold_duration;
  // Journaled records waiting, as last read (every fold round of shard 0).
  uint64_t backlog_records = 0;
  // Times the backlog went over max_backlog_records.
  uint64_t times_full = 0;
  // Over it now: group commits write the daily counts directly.
  bool full = false;
};

// Thread-safe. `journal` must outlive the folder.
class IngestJournalFolder {
 public:
  IngestJournalFolder(IngestJournal* journal, IngestJournalFolderOptions options);
  // Stops (see Stop).
  ~IngestJournalFolder();
  IngestJournalFolder(const IngestJournalFolder&) = delete;
  IngestJournalFolder& operator=(const IngestJournalFolder&) = delete;

  void Start();
  // Lets folds in progress finish (or fail), then folds what is waiting
  // until the journal is empty, a fold fails, or `drain_until` passes; what
  // is left waits for the next start or another replica. Idempotent.
  void Stop(absl::Time drain_until = absl::InfinitePast());

  IngestJournalFolderStats stats() const;

 private:
  // What one shard's thread keeps for its logs.
  struct ShardLog {
    uint64_t draining_records = 0;  // a backlog being drained
    absl::Time draining_since;
    absl::Time last_progress_log;
    std::string last_error;  // logged once per distinct error
  };

  void Run(int shard);
  // One fold of `shard`; false if it failed.
  bool FoldOnce(int shard, bool* more);
  void RefreshBacklog();
  void SetFull(bool full);

  IngestJournal& journal_;
  const IngestJournalFolderOptions options_;
  absl::Notification stop_;
  std::vector<std::thread> threads_;
  // Held by a fold while the backlog is below parallel_backlog_records.
  absl::Mutex fold_turn_;
  std::atomic<uint64_t> backlog_records_{0};  // as last read
  std::vector<ShardLog> logs_;                // one per shard, each touched by its thread

  mutable absl::Mutex mutex_;
  IngestJournalFolderStats stats_ ABSL_GUARDED_BY(mutex_);
  bool full_ = false;  // shard 0's thread only
};

}  // namespace egress

#endif  // EGRESS_SERVICE_INGEST_JOURNAL_FOLDER_H_
