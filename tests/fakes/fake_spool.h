// An in-memory Spool with the contract of agent/spool.h (sequence numbers
// never reused, AckThrough, NextAfter, a one-time Anchor renumbering, the
// high-water mark stored with each batch), without a size bound.
//
// What a FileSpool keeps on disk survives a restart of the agent here too:
// Reopen() gives a spool over the same contents, as a restarted agent would
// load them. Test side: batches() (unacked, oldest first), appended() (every
// batch ever stored), injected failures and overflow losses. Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_SPOOL_H_
#define EGRESS_TESTS_FAKES_FAKE_SPOOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/spool.h"

namespace egress::testing {

class FakeSpool final : public agent::Spool {
 public:
  FakeSpool();
  // A spool over the same contents (the agent restarted).
  std::unique_ptr<FakeSpool> Reopen() const;

  // Test side.
  std::vector<v1::RecordBatch> batches() const;
  std::vector<v1::RecordBatch> appended() const;
  // Appends fail with `status` (OK: they succeed again).
  void FailAppends(absl::Status status);
  // Handed out by the next TakeOverflowLosses() (as if batches were dropped).
  void AddOverflowLoss(v1::LossReport loss);
  // Waits until `count` batches were appended in all; false after `timeout`.
  bool WaitForAppended(size_t count, absl::Duration timeout) const;
  // Waits until Append() was called `count` times in all, failed or not.
  bool WaitForAppendCalls(size_t count, absl::Duration timeout) const;

  // agent::Spool.
  absl::StatusOr<uint64_t> Append(v1::RecordBatch* batch, uint64_t high_water_mark,
                                  uint64_t reject_mark = 0) override;
  absl::Status Anchor(uint64_t last_committed_seq) override;
  absl::Status AckThrough(uint64_t seq) override;
  absl::StatusOr<v1::RecordBatch> NextAfter(uint64_t seq) override;
  std::vector<v1::LossReport> TakeOverflowLosses() override;
  agent::SpoolStats stats() const override;

 private:
  struct Contents {
    mutable absl::Mutex mu;
    std::vector<v1::RecordBatch> batches ABSL_GUARDED_BY(mu);
    std::vector<v1::RecordBatch> appended ABSL_GUARDED_BY(mu);
    size_t append_calls ABSL_GUARDED_BY(mu) = 0;
    agent::SpoolStats stats ABSL_GUARDED_BY(mu);
    absl::Status append_error ABSL_GUARDED_BY(mu);
    std::vector<v1::LossReport> overflow ABSL_GUARDED_BY(mu);
  };
  explicit FakeSpool(std::shared_ptr<Contents> contents) : contents_(std::move(contents)) {}

  std::shared_ptr<Contents> contents_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_SPOOL_H_
