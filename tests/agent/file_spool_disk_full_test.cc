// The spool on a disk that fills up. A file-size limit (RLIMIT_FSIZE, so no
// root and no mount) makes writes fail part-way with EFBIG exactly like a
// full disk fails with ENOSPC: the spool must cut the torn record off, drop
// the oldest batches to go on, and report every count it dropped.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

#include "agent/file_spool.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

v1::RecordBatch Batch(uint64_t count) {
  v1::RecordBatch batch;
  for (int i = 0; i < 4; ++i) {
    v1::ConnectionRecord* r = batch.add_records();
    r->set_uid(1000);
    r->set_dst_port(static_cast<uint32_t>(1000 + i));
    r->set_count(i == 0 ? count : 0);
    r->mutable_day()->set_year(2026);
    r->mutable_day()->set_month(3);
    r->mutable_day()->set_day(1);
  }
  return batch;
}

uint64_t Counted(const v1::RecordBatch& batch) {
  uint64_t n = 0;
  for (const auto& r : batch.records()) n += r.count();
  return n;
}

TEST(FileSpoolDiskFullTest, FullDiskDropsOldestReportsEverythingAndLeavesNoTornRecord) {
  char tmpl[] = "/tmp/egress-spool-full-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  // Segments roll over every 64 KiB (max_bytes / 8); each file may hold
  // only 1,500 bytes, so writes fail mid-record again and again.
  const FileSpoolOptions options{dir, 512 << 10, FsyncPolicy::kNever};
  uint64_t appended = 0;
  uint64_t made = 0;
  uint64_t lost = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(options));
    struct sigaction ignore = {}, previous = {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, &previous);
    rlimit saved = {};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit limit = saved;
    limit.rlim_cur = 1500;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    for (uint64_t i = 1; i <= 200; ++i) {
      v1::RecordBatch batch = Batch(i);
      // The losses go out with the next batch, as the agent does.
      for (v1::LossReport& loss : spool->TakeOverflowLosses()) *batch.add_losses() = loss;
      made += i;
      if (spool->Append(&batch, i).ok()) ++appended;
    }
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    sigaction(SIGXFSZ, &previous, nullptr);
    // Reported by the next batch the agent would seal.
    for (const auto& loss : spool->TakeOverflowLosses()) lost += loss.events();
    EXPECT_EQ(appended, 200u);  // every append found room
    EXPECT_GT(spool->stats().dropped_batches, 0u);
  }
  // Reloaded: no torn record anywhere; what is there plus what the batches
  // reported as lost is everything.
  ASSERT_OK_AND_ASSIGN(auto spool, FileSpool::Create(options));
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  uint64_t stored = 0;
  uint64_t seq = 0;
  while (true) {
    auto batch = spool->NextAfter(seq);
    if (!batch.ok()) break;
    seq = batch->seq();
    stored += Counted(*batch);
    for (const auto& loss : batch->losses()) {
      EXPECT_EQ(loss.reason(), v1::LossReport::REASON_SPOOL_OVERFLOW);
      lost += loss.events();
    }
  }
  // Every count is either in a stored batch or in exactly one loss report.
  EXPECT_GT(stored, 0u);
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(stored + lost, made);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace egress::agent
