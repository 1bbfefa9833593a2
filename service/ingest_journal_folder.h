// Folds the ingest journal into the aggregates, in the background (journal
// mode, see IngestMode::kJournal): every `interval` it merges what the group
// commits appended since, as one transaction per fold, and at once again
// while a backlog remains (after an outage or a burst), logging progress.
// Every replica runs one; the store's fold lock lets one fold at a time and
// the others skip their turn, so any replica drains the journal, also what
// a stopped or crashed one left.
//
// The interval trades panel freshness for write work: acknowledged records
// reach ListConnections within about one interval plus one fold, and a key
// that recurs within an interval is written once.
#ifndef EGRESS_SERVICE_INGEST_JOURNAL_FOLDER_H_
#define EGRESS_SERVICE_INGEST_JOURNAL_FOLDER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "service/storage/ingest_journal.h"

namespace egress {

struct IngestJournalFolderOptions {
  absl::Duration interval = absl::Milliseconds(250);
  // Records one fold transaction takes at most (its memory: ~100 bytes each).
  size_t max_records = 500000;
  // Wait after a failed fold (database down): the entries stay and are
  // folded once it is back.
  absl::Duration retry_after_error = absl::Seconds(1);
  // Runs on the folder's thread after a fold that wrote rows (e.g. to wake
  // the enrichment worker for the destinations it queued).
  std::function<void()> on_folded;
};

struct IngestJournalFolderStats {
  uint64_t folds = 0;  // that folded at least one entry
  uint64_t entries = 0;
  uint64_t records = 0;
  uint64_t rows = 0;
  uint64_t failures = 0;
  absl::Duration last_fold_duration;
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
  // Lets a fold in progress finish (or fail), then folds what is waiting
  // until the journal is empty, a fold fails, or `drain_until` passes; what
  // is left waits for the next start or another replica. Idempotent.
  void Stop(absl::Time drain_until = absl::InfinitePast());

  IngestJournalFolderStats stats() const;

 private:
  void Run();
  // One fold; false if it failed.
  bool FoldOnce(bool* more);

  IngestJournal& journal_;
  const IngestJournalFolderOptions options_;
  absl::Notification stop_;
  std::thread thread_;
  // A backlog being drained: for progress logs.
  uint64_t draining_records_ = 0;
  absl::Time draining_since_;
  absl::Time last_progress_log_;
  std::string last_error_;  // logged once per distinct error

  mutable absl::Mutex mutex_;
  IngestJournalFolderStats stats_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_INGEST_JOURNAL_FOLDER_H_
