#include "service/ingest_journal_folder.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/log.h"

namespace egress {

IngestJournalFolder::IngestJournalFolder(IngestJournal* journal, IngestJournalFolderOptions options)
    : journal_(*journal), options_(options) {}

IngestJournalFolder::~IngestJournalFolder() { Stop(); }

void IngestJournalFolder::Start() {
  if (thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this] { Run(); });
}

void IngestJournalFolder::Stop(absl::Time drain_until) {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (!thread_.joinable()) return;
  thread_.join();
  bool more = true;
  while (more && absl::Now() < drain_until) {
    more = false;
    if (!FoldOnce(&more)) break;
  }
}

IngestJournalFolderStats IngestJournalFolder::stats() const {
  absl::MutexLock lock(&mutex_);
  return stats_;
}

void IngestJournalFolder::Run() {
  while (!stop_.HasBeenNotified()) {
    // Folds start every interval: a fold that took longer is followed at
    // once, so slow folds (a busy database) do not add a pause on top.
    const absl::Time start = absl::Now();
    bool more = false;
    const bool ok = FoldOnce(&more);
    if (ok && more) continue;
    const absl::Time next =
        ok ? start + options_.interval : absl::Now() + options_.retry_after_error;
    stop_.WaitForNotificationWithTimeout(std::max(absl::ZeroDuration(), next - absl::Now()));
  }
}

bool IngestJournalFolder::FoldOnce(bool* more) {
  const absl::Time start = absl::Now();
  absl::StatusOr<JournalFold> fold = journal_.FoldJournal(options_.max_records);
  const absl::Time end = absl::Now();
  if (!fold.ok()) {
    {
      absl::MutexLock lock(&mutex_);
      ++stats_.failures;
    }
    if (fold.status().ToString() != last_error_) {
      last_error_ = fold.status().ToString();
      LogWarning("ingest_journal_fold_failed",
                 {{"error", fold.status().message()},
                  {"retry_in", absl::FormatDuration(options_.retry_after_error)}});
    }
    return false;
  }
  if (!last_error_.empty()) {
    last_error_.clear();
    LogInfo("ingest_journal_fold_recovered");
  }
  *more = fold->more;
  if (fold->entries > 0) {
    {
      absl::MutexLock lock(&mutex_);
      ++stats_.folds;
      stats_.entries += fold->entries;
      stats_.records += fold->records;
      stats_.rows += fold->rows;
      stats_.last_fold_duration = end - start;
    }
    Log(LogLevel::kDebug, "ingest_journal_folded",
        {{"entries", fold->entries},
         {"records", fold->records},
         {"rows", fold->rows},
         {"ms", absl::ToDoubleMilliseconds(end - start)}});
    if (options_.on_folded) options_.on_folded();
  }
  // A backlog (more than one fold's worth waiting): progress every 5 s, and
  // a line when it is drained, so ops see the journal catching up.
  if (fold->more && draining_records_ == 0) {
    draining_since_ = start;
    last_progress_log_ = start;
    LogInfo("ingest_journal_backlog", {{"folding_records_per_transaction", options_.max_records}});
  }
  if (draining_records_ > 0 || fold->more) {
    draining_records_ += fold->records;
    if (!fold->more) {
      LogInfo("ingest_journal_backlog_folded",
              {{"records", draining_records_},
               {"seconds", absl::ToDoubleSeconds(end - draining_since_)}});
      draining_records_ = 0;
    } else if (end - last_progress_log_ >= absl::Seconds(5)) {
      last_progress_log_ = end;
      LogInfo("ingest_journal_backlog_progress",
              {{"records_folded", draining_records_},
               {"seconds", absl::ToDoubleSeconds(end - draining_since_)}});
    }
  }
  return true;
}

}  // namespace egress
