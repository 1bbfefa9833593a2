#include "agent/file_spool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::egress::testing::StatusIs;

class FileSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/egress-spool-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  FileSpoolOptions Options(uint64_t max_bytes = 1 << 20) {
    return FileSpoolOptions{dir_, max_bytes, FsyncPolicy::kNever};
  }
  static v1::RecordBatch Batch(uint64_t count) {
    v1::RecordBatch batch;
    v1::ConnectionRecord* r = batch.add_records();
    r->set_uid(1000);
    r->set_count(count);
    r->mutable_day()->set_year(2026);
    r->mutable_day()->set_month(3);
    r->mutable_day()->set_day(1);
    return batch;
  }
  std::string OnlySegment() {
    std::string found;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind("seg-", 0) == 0) found = e.path().string();
    }
    return found;
  }

  std::string dir_;
};

TEST_F(FileSpoolTest, AppendAssignsIncreasingSeqAndReplaysInOrder) {
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  for (uint64_t i = 1; i <= 3; ++i) {
    v1::RecordBatch batch = Batch(i);
    EXPECT_THAT(spool->Append(&batch, 0), ::egress::testing::IsOkAndHolds(i));
    EXPECT_EQ(batch.seq(), i);
  }
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch first, spool->NextAfter(0));
  EXPECT_EQ(first.seq(), 1u);
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch third, spool->NextAfter(2));
  EXPECT_EQ(third.records(0).count(), 3u);
  EXPECT_THAT(spool->NextAfter(3), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(FileSpoolTest, SurvivesRestartAndKeepsOnlyUnacked) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    for (int i = 1; i <= 5; ++i) {
      v1::RecordBatch batch = Batch(i);
      ASSERT_OK(spool->Append(&batch, 0).status());
    }
    ASSERT_OK(spool->AckThrough(3));
  }
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  EXPECT_EQ(spool->stats().acked_seq, 3u);
  EXPECT_EQ(spool->stats().batches, 2u);
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch next, spool->NextAfter(0));
  EXPECT_EQ(next.seq(), 4u);
  v1::RecordBatch batch = Batch(6);
  EXPECT_THAT(spool->Append(&batch, 0), ::egress::testing::IsOkAndHolds(6u));
}

TEST_F(FileSpoolTest, SeqIsNeverReusedAfterEverythingIsAcked) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    for (int i = 1; i <= 2; ++i) {
      v1::RecordBatch batch = Batch(i);
      ASSERT_OK(spool->Append(&batch, 0).status());
    }
    ASSERT_OK(spool->AckThrough(2));
    EXPECT_EQ(spool->stats().bytes, 0u);
  }
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  v1::RecordBatch batch = Batch(1);
  EXPECT_THAT(spool->Append(&batch, 0), ::egress::testing::IsOkAndHolds(3u));
  // The service knows a later seq than we do (state lost): never reuse it.
  ASSERT_OK(spool->AckThrough(10));
  batch = Batch(1);
  EXPECT_THAT(spool->Append(&batch, 0), ::egress::testing::IsOkAndHolds(11u));
}

TEST_F(FileSpoolTest, HighWaterMarkSurvivesRestartAndFullAck) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    v1::RecordBatch batch = Batch(1);
    ASSERT_OK(spool->Append(&batch, 500).status());
    batch = Batch(2);
    ASSERT_OK(spool->Append(&batch, 700).status());
    // A lower mark never moves it back.
    batch = Batch(3);
    ASSERT_OK(spool->Append(&batch, 600).status());
    EXPECT_EQ(spool->stats().high_water_mark, 700u);
  }
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    EXPECT_EQ(spool->stats().high_water_mark, 700u);
    ASSERT_OK(spool->AckThrough(3));
    EXPECT_EQ(spool->stats().bytes, 0u);
  }
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  EXPECT_EQ(spool->stats().high_water_mark, 700u);
}

// A kill -9 inside an ack, after the acked batches left the disk and
// before `acked` says so: the restart must still number above every seq
// the service committed and keep the newest marks.
TEST_F(FileSpoolTest, AckInterruptedByACrashNeverReusesASeqNorOlderMarks) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    v1::RecordBatch batch = Batch(1);
    ASSERT_OK(spool->Append(&batch, 500, 7).status());
    ASSERT_OK(spool->AckThrough(1));
    batch = Batch(2);
    ASSERT_OK(spool->Append(&batch, 900, 9).status());
    // `acked` cannot be replaced: the write fails like a kill -9 between
    // dropping segments and the rename would leave things.
    std::filesystem::create_directories(dir_ + "/acked.tmp/blocker");
    EXPECT_FALSE(spool->AckThrough(2).ok());
  }
  std::filesystem::remove_all(dir_ + "/acked.tmp");
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  EXPECT_EQ(spool->stats().high_water_mark, 900u);
  EXPECT_EQ(spool->stats().reject_mark, 9u);
  v1::RecordBatch batch = Batch(3);
  EXPECT_THAT(spool->Append(&batch, 0), ::egress::testing::IsOkAndHolds(3u));
}

TEST_F(FileSpoolTest, TornTailIsTruncatedAndEarlierBatchesKept) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    for (int i = 1; i <= 3; ++i) {
      v1::RecordBatch batch = Batch(i);
      ASSERT_OK(spool->Append(&batch, 0).status());
    }
  }
  const std::string segment = OnlySegment();
  const auto size = std::filesystem::file_size(segment);
  ASSERT_EQ(truncate(segment.c_str(), static_cast<off_t>(size - 3)), 0);
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  EXPECT_EQ(spool->stats().batches, 2u);
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  // The next append gets a fresh number after the surviving ones... and the
  // lost one's number is reused only if it never reached the service, which a
  // torn (never fully written) record cannot have.
  v1::RecordBatch batch = Batch(9);
  EXPECT_THAT(spool->Append(&batch, 0), ::egress::testing::IsOkAndHolds(3u));
  ASSERT_OK_AND_ASSIGN(auto again, FileSpool::Create(Options()));
  EXPECT_EQ(again->stats().batches, 3u);
  EXPECT_EQ(again->stats().corrupt_records, 0u);
}

TEST_F(FileSpoolTest, FlippedByteIsDetectedByTheChecksum) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    for (int i = 1; i <= 3; ++i) {
      v1::RecordBatch batch = Batch(i);
      ASSERT_OK(spool->Append(&batch, 0).status());
    }
  }
  const std::string segment = OnlySegment();
  const auto size = std::filesystem::file_size(segment);
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    // Inside the second record's payload.
    f.seekp(static_cast<std::streamoff>(size / 2));
    char c;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  EXPECT_EQ(spool->stats().batches, 1u);
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch first, spool->NextAfter(0));
  EXPECT_EQ(first.records(0).count(), 1u);
}

TEST_F(FileSpoolTest, OverflowDropsOldestAndReportsTheLoss) {
  // Small limit: segments of 4 KiB, at most 16 KiB in all.
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options(16 << 10)));
  uint64_t appended = 0;
  for (int i = 0; i < 400; ++i) {
    v1::RecordBatch batch = Batch(7);
    for (int k = 0; k < 5; ++k) *batch.add_records() = batch.records(0);
    ASSERT_OK(spool->Append(&batch, 0).status());
    appended += 6 * 7;
  }
  const SpoolStats stats = spool->stats();
  EXPECT_EQ(stats.max_bytes, 16u << 10);
  EXPECT_LE(stats.bytes, 16u << 10);
  EXPECT_GT(stats.dropped_batches, 0u);
  EXPECT_EQ(stats.dropped_batches + stats.batches, 400u);
  uint64_t lost = 0;
  for (const v1::LossReport& loss : spool->TakeOverflowLosses()) {
    EXPECT_EQ(loss.reason(), v1::LossReport::REASON_SPOOL_OVERFLOW);
    lost += loss.events();
  }
  EXPECT_EQ(lost, stats.dropped_batches * 6 * 7);
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch oldest, spool->NextAfter(0));
  EXPECT_EQ(oldest.seq(), stats.dropped_batches + 1);
}

TEST_F(FileSpoolTest, AnchorRenumbersAFreshSpoolAboveTheServicesHistory) {
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    for (uint64_t i = 1; i <= 3; ++i) {
      v1::RecordBatch batch = Batch(i);
      ASSERT_OK(spool->Append(&batch, 100 + i).status());
    }
  }
  // Not anchored yet: a restart keeps the numbering, still unanchored.
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  EXPECT_FALSE(spool->stats().anchored);
  ASSERT_OK(spool->Anchor(500));
  ASSERT_OK(spool->AckThrough(500));
  EXPECT_EQ(spool->stats().batches, 3u);
  EXPECT_EQ(spool->stats().renumbered_batches, 3u);
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::RecordBatch batch, spool->NextAfter(499 + i));
    EXPECT_EQ(batch.seq(), 500 + i);
    EXPECT_EQ(batch.records(0).count(), i);
  }
  v1::RecordBatch next = Batch(4);
  EXPECT_THAT(spool->Append(&next, 0), ::egress::testing::IsOkAndHolds(504u));
  // Anchoring is once: a later Welcome (or a restart) renumbers nothing.
  ASSERT_OK(spool->Anchor(900));
  EXPECT_EQ(spool->stats().renumbered_batches, 3u);
  spool.reset();
  ASSERT_OK_AND_ASSIGN(spool, FileSpool::Create(Options()));
  EXPECT_TRUE(spool->stats().anchored);
  EXPECT_EQ(spool->stats().batches, 4u);
  EXPECT_EQ(spool->stats().high_water_mark, 103u);
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch first, spool->NextAfter(0));
  EXPECT_EQ(first.seq(), 501u);
  ASSERT_OK(spool->Anchor(900));
  ASSERT_OK_AND_ASSIGN(first, spool->NextAfter(0));
  EXPECT_EQ(first.seq(), 501u);
}

TEST_F(FileSpoolTest, AnchorBelowTheFreshSpoolKeepsItsNumbers) {
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
  v1::RecordBatch batch = Batch(1);
  ASSERT_OK(spool->Append(&batch, 0).status());
  ASSERT_OK(spool->Anchor(0));
  EXPECT_TRUE(spool->stats().anchored);
  EXPECT_EQ(spool->stats().renumbered_batches, 0u);
  ASSERT_OK_AND_ASSIGN(v1::RecordBatch first, spool->NextAfter(0));
  EXPECT_EQ(first.seq(), 1u);
  spool.reset();
  ASSERT_OK_AND_ASSIGN(spool, FileSpool::Create(Options()));
  EXPECT_TRUE(spool->stats().anchored) << "anchoring is persisted";
}

// A crash inside Anchor(): before its commit point the old numbering stays;
// after it, the restart finishes the renumbering. Either way every batch is
// there exactly once.
TEST_F(FileSpoolTest, AnchorInterruptedByACrashLosesAndDoublesNothing) {
  auto seed = [&] {
    std::filesystem::remove_all(dir_);
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    for (uint64_t i = 1; i <= 3; ++i) {
      v1::RecordBatch batch = Batch(i);
      ASSERT_OK(spool->Append(&batch, 0).status());
    }
  };
  // What a renumbering to 501.. writes before its commit point: the segment
  // a completed renumbering of the same batches leaves, made in another dir.
  auto write_rebase = [&] {
    const std::string other = dir_ + "-other";
    {
      ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create({other, 1 << 20, FsyncPolicy::kNever}));
      for (uint64_t i = 1; i <= 3; ++i) {
        v1::RecordBatch batch = Batch(i);
        ASSERT_OK(spool->Append(&batch, 0).status());
      }
      ASSERT_OK(spool->Anchor(500));
    }
    std::filesystem::copy_file(other + "/seg-00000000000000000501.log",
                               dir_ + "/rebase-00000000000000000501.tmp");
    std::filesystem::remove_all(other);
  };
  auto seqs = [&](FileSpool* spool) {
    std::vector<uint64_t> out;
    uint64_t after = 0;
    while (true) {
      auto batch = spool->NextAfter(after);
      if (!batch.ok()) break;
      out.push_back(batch->seq());
      after = batch->seq();
    }
    return out;
  };

  // Crash before the commit point: the rebase file is discarded.
  seed();
  write_rebase();
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    EXPECT_FALSE(spool->stats().anchored);
    EXPECT_THAT(seqs(spool.get()), ::testing::ElementsAre(1, 2, 3));
    ASSERT_OK(spool->Anchor(500));
    EXPECT_THAT(seqs(spool.get()), ::testing::ElementsAre(501, 502, 503));
  }
  // Crash after it (acked says anchored through 500): the switch completes.
  seed();
  write_rebase();
  std::ofstream(dir_ + "/acked") << "500 0 1\n";
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(Options()));
    EXPECT_TRUE(spool->stats().anchored);
    EXPECT_THAT(seqs(spool.get()), ::testing::ElementsAre(501, 502, 503));
    EXPECT_EQ(spool->stats().next_seq, 504u);
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
  }
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().extension(), e.path().filename() == "acked" ? "" : ".log") << e.path();
  }
}

}  // namespace
}  // namespace egress::agent
