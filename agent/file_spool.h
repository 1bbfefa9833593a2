// Spool in a directory of append-only segment files.
//
// Layout: `<dir>/seg-<first seq, 20 digits>.log` holds records
//   "EGSB" | u32 payload length | u32 CRC-32C of (mark and payload) |
//   u64 high-water mark | payload
// (little-endian), the payload being a serialized RecordBatch carrying its
// seq (records with a REJECT counting mark use the "EGS2" framing of
// spool_record.h); `<dir>/acked` holds the highest acknowledged sequence,
// the latest high-water mark, the anchored flag and the latest reject mark
// (replaced by rename), so the marks survive the deletion of fully acked
// segments. A new segment starts when the current one reaches
// max_bytes / 8; a segment whose batches are all acked is deleted; when the
// spool would exceed max_bytes the oldest segment is dropped (counted).
// max_bytes is lowered to 90% of the file system's size when it is larger.
// A write that fails because the disk is full (ENOSPC, EDQUOT, EFBIG) is cut
// off (no torn record stays) and the oldest segments are dropped until it
// fits, the segment being written last; a batch that still cannot be
// written is lost. Every dropped or lost batch's counts come back from
// TakeOverflowLosses() as REASON_SPOOL_OVERFLOW per day: never silent.
//
// Load (Create): every segment is scanned; at the first record that is torn
// (short), has a bad checksum or does not parse, the segment is truncated
// there and the damage counted in corrupt_records: a torn tail is what a crash
// mid-write leaves, and the records before it are intact.
//
// Anchor (renumbering a fresh spool) is crash-safe: the renumbered batches go
// to `<dir>/rebase-<first seq>.tmp` (synced), then `acked` is replaced with
// "anchored, acked through last_committed_seq" (the commit point), then the
// file is renamed to its segment name and the old segments deleted. Load
// finishes an interrupted rename when `acked` says anchored, and deletes the
// file otherwise (the old segments are still there then).
#ifndef EGRESS_AGENT_FILE_SPOOL_H_
#define EGRESS_AGENT_FILE_SPOOL_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/spool.h"

namespace egress::agent {

enum class FsyncPolicy {
  // fsync after every append and ack: survives power loss.
  kEveryBatch,
  // Leave writeback to the kernel: survives a crash of the agent, not of the
  // machine.
  kNever,
};

struct FileSpoolOptions {
  std::string dir;
  uint64_t max_bytes = 256ull << 20;
  FsyncPolicy fsync = FsyncPolicy::kEveryBatch;
};

class FileSpool : public Spool {
 public:
  // Creates `dir` if needed and loads what is there.
  static absl::StatusOr<std::unique_ptr<FileSpool>> Create(const FileSpoolOptions& options);
  ~FileSpool() override;

  absl::StatusOr<uint64_t> Append(v1::RecordBatch* batch, uint64_t high_water_mark,
                                  uint64_t reject_mark = 0) override;
  absl::Status Anchor(uint64_t last_committed_seq) override;
  absl::Status AckThrough(uint64_t seq) override;
  absl::StatusOr<v1::RecordBatch> NextAfter(uint64_t seq) override;
  std::vector<v1::LossReport> TakeOverflowLosses() override;
  SpoolStats stats() const override;

 private:
  struct Entry {
    uint64_t seq;
    uint64_t segment;  // first seq of its segment
    uint64_t offset;   // of the payload
    uint32_t length;
  };
  struct Segment {
    std::string path;
    uint64_t size = 0;
    uint64_t last_seq = 0;
  };

  explicit FileSpool(const FileSpoolOptions& options) : options_(options) {}
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadSegment(uint64_t first_seq, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteAcked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Renumber(uint64_t first_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string RebasePath(uint64_t first_seq) const;
  absl::Status OpenSegment(uint64_t first_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropSegment(uint64_t first_seq, bool count_as_overflow) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Turns a batch that could not be written into loss reports (sent with the
  // next batch), with the losses it carried.
  void KeepAsLoss(const v1::RecordBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::RecordBatch> ReadEntry(const Entry& entry) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SegmentPath(uint64_t first_seq) const;

  const FileSpoolOptions options_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Segment> segments_ ABSL_GUARDED_BY(mu_);
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  int append_fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t append_segment_ ABSL_GUARDED_BY(mu_) = 0;
  SpoolStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::LossReport> overflow_losses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_FILE_SPOOL_H_
