// IngestJournalFolder's schedule against a scripted journal: it folds on
// its interval, at once again while a backlog remains, retries after a
// failure, and drains what is left when stopped.
#include "service/ingest_journal_folder.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace egress {
namespace {

// Entries of `records` records each; FoldJournal takes up to max_records
// (at least one entry), or fails while `failures` is positive.
class ScriptedJournal : public IngestJournal {
 public:
  void Append(int entries, uint64_t records) {
    absl::MutexLock lock(&mutex_);
    for (int i = 0; i < entries; ++i) entries_.push_back(records);
  }
  void FailNext(int n) {
    absl::MutexLock lock(&mutex_);
    failures_ = n;
  }
  int journal_shards() const override { return 1; }
  absl::StatusOr<JournalFold> FoldJournal(int shard, size_t max_records) override {
    absl::MutexLock lock(&mutex_);
    if (shard != 0) return absl::InvalidArgumentError("no such shard");
    ++calls_;
    if (failures_ > 0) {
      --failures_;
      return absl::UnavailableError("database down");
    }
    JournalFold fold;
    uint64_t records = 0;
    while (!entries_.empty() && (fold.entries == 0 || records + entries_.front() <= max_records)) {
      records += entries_.front();
      entries_.pop_front();
      ++fold.entries;
    }
    fold.records = fold.rows = records;
    fold.more = !entries_.empty();
    folded_ += records;
    return fold;
  }
  absl::StatusOr<JournalBacklog> ReadJournalBacklog() override {
    absl::MutexLock lock(&mutex_);
    uint64_t records = 0;
    for (uint64_t entry : entries_) records += entry;
    return JournalBacklog{entries_.size(), records, absl::ZeroDuration()};
  }
  int calls() {
    absl::MutexLock lock(&mutex_);
    return calls_;
  }
  uint64_t folded() {
    absl::MutexLock lock(&mutex_);
    return folded_;
  }
  size_t waiting() {
    absl::MutexLock lock(&mutex_);
    return entries_.size();
  }

 private:
  absl::Mutex mutex_;
  std::deque<uint64_t> entries_ ABSL_GUARDED_BY(mutex_);
  int failures_ ABSL_GUARDED_BY(mutex_) = 0;
  int calls_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t folded_ ABSL_GUARDED_BY(mutex_) = 0;
};

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return done();
}

TEST(IngestJournalFolderTest, DrainsABacklogWithoutWaitingForTheInterval) {
  ScriptedJournal journal;
  journal.Append(100, 10);
  IngestJournalFolderOptions options;
  options.interval = absl::Hours(1);  // only backlog folds can run
  options.max_records = 25;           // two entries per fold
  std::atomic<int> folded_callbacks{0};
  options.on_folded = [&] { ++folded_callbacks; };
  IngestJournalFolder folder(&journal, options);
  folder.Start();
  ASSERT_TRUE(WaitUntil([&] { return folder.stats().folds == 50; }));
  EXPECT_EQ(journal.waiting(), 0u);
  EXPECT_EQ(journal.folded(), 1000u);
  EXPECT_EQ(folder.stats().records, 1000u);
  EXPECT_EQ(folded_callbacks.load(), 50);
  folder.Stop();
}

TEST(IngestJournalFolderTest, FoldsOnItsIntervalAndRetriesAfterFailures) {
  ScriptedJournal journal;
  IngestJournalFolderOptions options;
  options.interval = absl::Milliseconds(20);
  options.retry_after_error = absl::Milliseconds(20);
  IngestJournalFolder folder(&journal, options);
  folder.Start();
  journal.Append(3, 1);
  ASSERT_TRUE(WaitUntil([&] { return journal.waiting() == 0; }));
  journal.FailNext(3);
  journal.Append(2, 1);
  ASSERT_TRUE(WaitUntil([&] { return journal.waiting() == 0; }));
  EXPECT_EQ(folder.stats().failures, 3u);
  EXPECT_EQ(journal.folded(), 5u);
  folder.Stop();
  // Stopped: no more folds.
  const int calls = journal.calls();
  journal.Append(1, 1);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(journal.calls(), calls);
  EXPECT_EQ(journal.waiting(), 1u);
}

TEST(IngestJournalFolderTest, StopDrainsWhatIsWaitingUntilItsDeadline) {
  ScriptedJournal journal;
  IngestJournalFolderOptions options;
  options.interval = absl::Hours(1);
  options.max_records = 1;
  IngestJournalFolder folder(&journal, options);
  folder.Start();
  ASSERT_TRUE(WaitUntil([&] { return journal.calls() >= 1; }));  // idle now, for an hour
  journal.Append(40, 1);
  folder.Stop(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(journal.waiting(), 0u);
  EXPECT_EQ(journal.folded(), 40u);

  // A past deadline: nothing drained (what is left waits for the next start).
  ScriptedJournal other;
  IngestJournalFolder stopped(&other, options);
  stopped.Start();
  ASSERT_TRUE(WaitUntil([&] { return other.calls() >= 1; }));
  other.Append(5, 1);
  stopped.Stop(absl::InfinitePast());
  EXPECT_EQ(other.waiting(), 5u);
}

// Past max_backlog_records the folder says the journal is full (the store
// then writes groups directly), and says so again once the folds bring the
// backlog back under the limit; stopping never leaves it "full".
TEST(IngestJournalFolderTest, SaysWhenTheBacklogGoesOverItsLimitAndBack) {
  ScriptedJournal journal;
  journal.Append(100, 1);
  journal.FailNext(1000000);  // the database is "down": nothing folds
  IngestJournalFolderOptions options;
  options.interval = absl::Milliseconds(10);
  options.retry_after_error = absl::Milliseconds(10);
  options.max_records = 10;
  options.max_backlog_records = 20;
  absl::Mutex mutex;
  std::vector<bool> calls;
  options.on_full = [&](bool full) {
    absl::MutexLock lock(&mutex);
    calls.push_back(full);
  };
  auto said = [&] {
    absl::MutexLock lock(&mutex);
    return calls;
  };
  IngestJournalFolder folder(&journal, options);
  folder.Start();
  ASSERT_TRUE(WaitUntil([&] { return said().size() == 1; }));
  EXPECT_EQ(said(), std::vector<bool>{true});
  EXPECT_EQ(folder.stats().backlog_records, 100u);
  EXPECT_EQ(folder.stats().times_full, 1u);
  EXPECT_TRUE(folder.stats().full);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(said().size(), 1u);  // said once, not on every refresh

  journal.FailNext(0);  // folds resume
  ASSERT_TRUE(WaitUntil([&] { return said().size() == 2; }));
  EXPECT_EQ(said(), (std::vector<bool>{true, false}));
  EXPECT_LE(folder.stats().backlog_records, 20u);
  EXPECT_FALSE(folder.stats().full);

  // Full again, then stopped: the last word is "not full".
  journal.FailNext(1000000);
  journal.Append(50, 1);
  ASSERT_TRUE(WaitUntil([&] { return said().size() == 3; }));
  folder.Stop();
  EXPECT_EQ(said(), (std::vector<bool>{true, false, true, false}));
  EXPECT_FALSE(folder.stats().full);
  EXPECT_EQ(folder.stats().times_full, 2u);
}

// Two shards whose folds each take `fold_time` and record how many run at
// once. Each shard holds `pending` records; a fold takes up to max_records.
class TwoShardJournal : public IngestJournal {
 public:
  explicit TwoShardJournal(absl::Duration fold_time) : fold_time_(fold_time) {}
  void Add(uint64_t records_per_shard) {
    absl::MutexLock lock(&mutex_);
    for (uint64_t& pending : pending_) pending += records_per_shard;
  }
  int journal_shards() const override { return 2; }
  absl::StatusOr<JournalFold> FoldJournal(int shard, size_t max_records) override {
    {
      absl::MutexLock lock(&mutex_);
      max_at_once_ = std::max(max_at_once_, ++at_once_);
      ++folds_;
    }
    absl::SleepFor(fold_time_);
    absl::MutexLock lock(&mutex_);
    --at_once_;
    uint64_t& pending = pending_[static_cast<size_t>(shard)];
    JournalFold fold;
    fold.records = fold.rows = std::min<uint64_t>(pending, max_records);
    fold.entries = fold.records > 0 ? 1 : 0;
    pending -= fold.records;
    fold.more = pending > 0;
    return fold;
  }
  absl::StatusOr<JournalBacklog> ReadJournalBacklog() override {
    absl::MutexLock lock(&mutex_);
    return JournalBacklog{2, pending_[0] + pending_[1], absl::ZeroDuration()};
  }
  int max_at_once() {
    absl::MutexLock lock(&mutex_);
    return max_at_once_;
  }
  int folds() {
    absl::MutexLock lock(&mutex_);
    return folds_;
  }
  uint64_t pending() {
    absl::MutexLock lock(&mutex_);
    return pending_[0] + pending_[1];
  }

 private:
  const absl::Duration fold_time_;
  absl::Mutex mutex_;
  uint64_t pending_[2] ABSL_GUARDED_BY(mutex_) = {0, 0};
  int at_once_ ABSL_GUARDED_BY(mutex_) = 0;
  int max_at_once_ ABSL_GUARDED_BY(mutex_) = 0;
  int folds_ ABSL_GUARDED_BY(mutex_) = 0;
};

// A small backlog: the shards fold one at a time, never side by side.
TEST(IngestJournalFolderTest, ShardsTakeTurnsWhileTheBacklogIsSmall) {
  TwoShardJournal journal(absl::Milliseconds(5));
  IngestJournalFolderOptions options;
  options.interval = absl::Milliseconds(1);
  options.parallel_backlog_records = 1000;
  IngestJournalFolder folder(&journal, options);
  folder.Start();
  for (int i = 0; i < 40; ++i) {
    journal.Add(10);
    absl::SleepFor(absl::Milliseconds(3));
  }
  ASSERT_TRUE(WaitUntil([&] { return journal.pending() == 0; }));
  folder.Stop();
  EXPECT_GE(journal.folds(), 20);
  EXPECT_EQ(journal.max_at_once(), 1);
}

// A large backlog: both shards fold at once to catch up.
TEST(IngestJournalFolderTest, ShardsFoldSideBySideToCatchUpABacklog) {
  TwoShardJournal journal(absl::Milliseconds(5));
  journal.Add(100000);
  IngestJournalFolderOptions options;
  options.interval = absl::Milliseconds(1);
  options.max_records = 1000;
  options.parallel_backlog_records = 1000;
  IngestJournalFolder folder(&journal, options);
  folder.Start();
  ASSERT_TRUE(WaitUntil([&] { return journal.max_at_once() == 2; }));
  folder.Stop();
}

}  // namespace
}  // namespace egress
