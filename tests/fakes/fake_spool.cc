#include "tests/fakes/fake_spool.h"

#include <algorithm>
#include <utility>

namespace egress::testing {

FakeSpool::FakeSpool() : contents_(std::make_shared<Contents>()) {}

std::unique_ptr<FakeSpool> FakeSpool::Reopen() const {
  return std::unique_ptr<FakeSpool>(new FakeSpool(contents_));
}

std::vector<v1::RecordBatch> FakeSpool::batches() const {
  absl::MutexLock lock(&contents_->mu);
  return contents_->batches;
}

std::vector<v1::RecordBatch> FakeSpool::appended() const {
  absl::MutexLock lock(&contents_->mu);
  return contents_->appended;
}

void FakeSpool::FailAppends(absl::Status status) {
  absl::MutexLock lock(&contents_->mu);
  contents_->append_error = std::move(status);
}

void FakeSpool::AddOverflowLoss(v1::LossReport loss) {
  absl::MutexLock lock(&contents_->mu);
  contents_->overflow.push_back(std::move(loss));
}

bool FakeSpool::WaitForAppended(size_t count, absl::Duration timeout) const {
  Contents& c = *contents_;
  absl::MutexLock lock(&c.mu);
  auto done = [&c, count]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.appended.size() >= count; };
  return c.mu.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool FakeSpool::WaitForAppendCalls(size_t count, absl::Duration timeout) const {
  Contents& c = *contents_;
  absl::MutexLock lock(&c.mu);
  auto done = [&c, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.append_calls >= count; };
  return c.mu.AwaitWithTimeout(absl::Condition(&done), timeout);
}

absl::StatusOr<uint64_t> FakeSpool::Append(v1::RecordBatch* batch, uint64_t high_water_mark,
                                           uint64_t reject_mark) {
  Contents& c = *contents_;
  absl::MutexLock lock(&c.mu);
  ++c.append_calls;
  if (!c.append_error.ok()) return c.append_error;
  batch->set_seq(c.stats.next_seq++);
  c.batches.push_back(*batch);
  c.appended.push_back(*batch);
  c.stats.batches = c.batches.size();
  c.stats.high_water_mark = high_water_mark;
  c.stats.reject_mark = std::max(c.stats.reject_mark, reject_mark);
  return batch->seq();
}

absl::Status FakeSpool::Anchor(uint64_t last_committed_seq) {
  Contents& c = *contents_;
  absl::MutexLock lock(&c.mu);
  if (c.stats.anchored) return absl::OkStatus();
  // Batches numbered before the node's history was known follow it now.
  uint64_t seq = last_committed_seq;
  for (v1::RecordBatch& batch : c.batches) batch.set_seq(++seq);
  c.stats.renumbered_batches = c.batches.size();
  c.stats.next_seq = seq + 1;
  c.stats.acked_seq = std::max(c.stats.acked_seq, last_committed_seq);
  c.stats.anchored = true;
  return absl::OkStatus();
}

absl::Status FakeSpool::AckThrough(uint64_t seq) {
  Contents& c = *contents_;
  absl::MutexLock lock(&c.mu);
  std::erase_if(c.batches, [seq](const v1::RecordBatch& b) { return b.seq() <= seq; });
  c.stats.acked_seq = std::max(c.stats.acked_seq, seq);
  c.stats.next_seq = std::max(c.stats.next_seq, seq + 1);
  c.stats.batches = c.batches.size();
  return absl::OkStatus();
}

absl::StatusOr<v1::RecordBatch> FakeSpool::NextAfter(uint64_t seq) {
  absl::MutexLock lock(&contents_->mu);
  for (const v1::RecordBatch& batch : contents_->batches) {
    if (batch.seq() > seq) return batch;
  }
  return absl::NotFoundError("no batch after that sequence");
}

std::vector<v1::LossReport> FakeSpool::TakeOverflowLosses() {
  absl::MutexLock lock(&contents_->mu);
  return std::exchange(contents_->overflow, {});
}

agent::SpoolStats FakeSpool::stats() const {
  absl::MutexLock lock(&contents_->mu);
  return contents_->stats;
}

}  // namespace egress::testing
