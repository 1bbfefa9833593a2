#include "service/ingest_journal_folder.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/log.h"

namespace egress {

IngestJournalFolder::IngestJournalFolder(IngestJournal* journal, IngestJournalFolderOptions options)
    : journal_(*journal),
      options_(std::move(options)),
      logs_(static_cast<size_t>(std::max(1, journal->journal_shards()))) {}

IngestJournalFolder::~IngestJournalFolder() { Stop(); }

void IngestJournalFolder::Start() {
  if (!threads_.empty() || stop_.HasBeenNotified()) return;
  for (int shard = 0; shard < journal_.journal_shards(); ++shard) {
    threads_.emplace_back([this, shard] { Run(shard); });
  }
}

void IngestJournalFolder::Stop(absl::Time drain_until) {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (threads_.empty()) return;
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  for (int shard = 0; shard < journal_.journal_shards(); ++shard) {
    bool more = true;
    while (more && absl::Now() < drain_until) {
      more = false;
      if (!FoldOnce(shard, &more)) break;
    }
  }
}

IngestJournalFolderStats IngestJournalFolder::stats() const {
  absl::MutexLock lock(&mutex_);
  return stats_;
}

void IngestJournalFolder::Run(int shard) {
  while (!stop_.HasBeenNotified()) {
    // Folds start every interval: a fold that took longer is followed at
    // once, so slow folds (a busy database) do not add a pause on top.
    const absl::Time start = absl::Now();
    bool more = false;
    bool ok;
    if (backlog_records_.load(std::memory_order_relaxed) < options_.parallel_backlog_records) {
      // One fold at a time: a fold keeps a PostgreSQL core busy, and two at
      // once leave none for the group commits whose acks wait (measured:
      // ack p99 up to 1.8x; bench/README.md, "Ingest journal").
      absl::MutexLock turn(&fold_turn_);
      ok = FoldOnce(shard, &more);
    } else {
      ok = FoldOnce(shard, &more);  // catching up: every shard at once
    }
    if (shard == 0) RefreshBacklog();
    if (ok && more) continue;
    const absl::Time next =
        ok ? start + options_.interval : absl::Now() + options_.retry_after_error;
    stop_.WaitForNotificationWithTimeout(std::max(absl::ZeroDuration(), next - absl::Now()));
  }
  // Nobody refreshes the figure any more: never leave the store bypassing.
  if (shard == 0) SetFull(false);
}

void IngestJournalFolder::RefreshBacklog() {
  absl::StatusOr<JournalBacklog> backlog = journal_.ReadJournalBacklog();
  if (!backlog.ok()) return;  // the fold's failure is logged already
  backlog_records_.store(backlog->records, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mutex_);
    stats_.backlog_records = backlog->records;
  }
  SetFull(backlog->records > options_.max_backlog_records);
}

void IngestJournalFolder::SetFull(bool full) {
  if (full == full_) return;
  full_ = full;
  {
    absl::MutexLock lock(&mutex_);
    stats_.full = full;
    if (full) ++stats_.times_full;
  }
  LogInfo(full ? "ingest_journal_full" : "ingest_journal_below_limit",
          {{"max_backlog_records", options_.max_backlog_records},
           {"group_commits", full ? "write the daily counts directly" : "journal"}});
  if (options_.on_full) options_.on_full(full);
}

bool IngestJournalFolder::FoldOnce(int shard, bool* more) {
  ShardLog& log = logs_[static_cast<size_t>(shard)];
  const absl::Time start = absl::Now();
  absl::StatusOr<JournalFold> fold = journal_.FoldJournal(shard, options_.max_records);
  const absl::Time end = absl::Now();
  if (!fold.ok()) {
    {
      absl::MutexLock lock(&mutex_);
      ++stats_.failures;
    }
    if (fold.status().ToString() != log.last_error) {
      log.last_error = fold.status().ToString();
      LogWarning("ingest_journal_fold_failed",
                 {{"shard", shard},
                  {"error", fold.status().message()},
                  {"retry_in", absl::FormatDuration(options_.retry_after_error)}});
    }
    return false;
  }
  if (!log.last_error.empty()) {
    log.last_error.clear();
    LogInfo("ingest_journal_fold_recovered", {{"shard", shard}});
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
        {{"shard", shard},
         {"entries", fold->entries},
         {"records", fold->records},
         {"rows", fold->rows},
         {"ms", absl::ToDoubleMilliseconds(end - start)}});
    if (options_.on_folded) options_.on_folded();
  }
  // A backlog (more than one fold's worth waiting): progress every 5 s, and
  // a line when it is drained, so ops see the journal catching up.
  if (fold->more && log.draining_records == 0) {
    log.draining_since = start;
    log.last_progress_log = start;
    LogInfo("ingest_journal_backlog",
            {{"shard", shard}, {"folding_records_per_transaction", options_.max_records}});
  }
  if (log.draining_records > 0 || fold->more) {
    log.draining_records += fold->records;
    if (!fold->more) {
      LogInfo("ingest_journal_backlog_folded",
              {{"shard", shard},
               {"records", log.draining_records},
               {"seconds", absl::ToDoubleSeconds(end - log.draining_since)}});
      log.draining_records = 0;
    } else if (end - log.last_progress_log >= absl::Seconds(5)) {
      log.last_progress_log = end;
      LogInfo("ingest_journal_backlog_progress",
              {{"shard", shard},
               {"records_folded", log.draining_records},
               {"seconds", absl::ToDoubleSeconds(end - log.draining_since)}});
    }
  }
  return true;
}

}  // namespace egress
