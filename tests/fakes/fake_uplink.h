// An Uplink the test plays the service through, synchronously on its own
// thread: Connect() does what a new stream does (the listener gets the
// Welcome, the spool is anchored and acknowledged up to its
// last_committed_seq), Unsent() is what would go out next (the spool's
// batches after the last ack, oldest first), Ack() acknowledges, and
// PushRuleSet() delivers a later rule set. Records Start/Stop/BatchReady.
// WaitForAcks() answers at once whether the spool is empty. Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_UPLINK_H_
#define EGRESS_TESTS_FAKES_FAKE_UPLINK_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/spool.h"
#include "agent/uplink.h"

namespace egress::testing {

class FakeUplink final : public agent::Uplink {
 public:
  // `spool` and `listener` must outlive the uplink. `on_start` (may be
  // empty) runs inside Start(), so a test can look at the world as the
  // uplink starts.
  FakeUplink(agent::Spool* spool, agent::UplinkListener* listener,
             std::function<void()> on_start = nullptr);

  // Test side (the service).
  v1::RulesApplied Connect(const v1::Welcome& welcome);
  std::optional<v1::RulesApplied> PushRuleSet(const v1::RuleSet& rules);
  std::vector<v1::RecordBatch> Unsent();
  absl::Status Ack(uint64_t seq);
  void Disconnect();
  v1::AgentStats AgentStats() { return listener_->Stats(); }
  bool started() const;
  bool stopped() const;
  int batch_ready_calls() const;
  int wait_for_acks_calls() const;
  void set_stats(const agent::UplinkStats& stats);

  // agent::Uplink.
  void Start() override;
  void BatchReady() override;
  bool WaitForAcks(absl::Duration timeout) override;
  void Stop() override;
  agent::UplinkStats stats() const override;

 private:
  agent::Spool* spool_;
  agent::UplinkListener* listener_;
  std::function<void()> on_start_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int batch_ready_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int wait_for_acks_calls_ ABSL_GUARDED_BY(mu_) = 0;
  agent::UplinkStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_UPLINK_H_
