#include "tests/fakes/fake_uplink.h"

#include <utility>

namespace egress::testing {

FakeUplink::FakeUplink(agent::Spool* spool, agent::UplinkListener* listener,
                       std::function<void()> on_start)
    : spool_(spool), listener_(listener), on_start_(std::move(on_start)) {}

v1::RulesApplied FakeUplink::Connect(const v1::Welcome& welcome) {
  // The order of GrpcUplink on a new stream: rules first, then the acks.
  v1::RulesApplied applied = listener_->OnWelcome(welcome);
  (void)spool_->Anchor(welcome.last_committed_seq());
  (void)spool_->AckThrough(welcome.last_committed_seq());
  absl::MutexLock lock(&mu_);
  ++stats_.connects;
  stats_.connected = true;
  return applied;
}

std::optional<v1::RulesApplied> FakeUplink::PushRuleSet(const v1::RuleSet& rules) {
  return listener_->OnRuleSet(rules);
}

std::vector<v1::RecordBatch> FakeUplink::Unsent() {
  std::vector<v1::RecordBatch> out;
  uint64_t after = spool_->stats().acked_seq;
  while (true) {
    absl::StatusOr<v1::RecordBatch> next = spool_->NextAfter(after);
    if (!next.ok()) break;
    after = next->seq();
    out.push_back(*std::move(next));
  }
  absl::MutexLock lock(&mu_);
  stats_.batches_sent += out.size();
  return out;
}

absl::Status FakeUplink::Ack(uint64_t seq) {
  absl::Status status = spool_->AckThrough(seq);
  absl::MutexLock lock(&mu_);
  ++stats_.batches_acked;
  return status;
}

void FakeUplink::Disconnect() {
  absl::MutexLock lock(&mu_);
  ++stats_.disconnects;
  stats_.connected = false;
}

bool FakeUplink::started() const {
  absl::MutexLock lock(&mu_);
  return started_;
}

bool FakeUplink::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

int FakeUplink::batch_ready_calls() const {
  absl::MutexLock lock(&mu_);
  return batch_ready_calls_;
}

int FakeUplink::wait_for_acks_calls() const {
  absl::MutexLock lock(&mu_);
  return wait_for_acks_calls_;
}

void FakeUplink::set_stats(const agent::UplinkStats& stats) {
  absl::MutexLock lock(&mu_);
  stats_ = stats;
}

void FakeUplink::Start() {
  if (on_start_) on_start_();
  absl::MutexLock lock(&mu_);
  started_ = true;
}

void FakeUplink::BatchReady() {
  absl::MutexLock lock(&mu_);
  ++batch_ready_calls_;
}

bool FakeUplink::WaitForAcks(absl::Duration) {
  {
    absl::MutexLock lock(&mu_);
    ++wait_for_acks_calls_;
  }
  return spool_->stats().batches == 0;
}

void FakeUplink::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

agent::UplinkStats FakeUplink::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace egress::testing
