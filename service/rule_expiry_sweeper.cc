#include "service/rule_expiry_sweeper.h"

#include "common/log.h"

namespace egress {

RuleExpirySweeper::RuleExpirySweeper(RulesStore* store, const Clock* clock, absl::Duration interval)
    : store_(*store), clock_(*clock), interval_(interval) {}

RuleExpirySweeper::~RuleExpirySweeper() { Stop(); }

void RuleExpirySweeper::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) (void)SweepOnce();
  });
}

void RuleExpirySweeper::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> RuleExpirySweeper::SweepOnce() {
  absl::StatusOr<int> deleted = store_.DeleteExpiredBlockRules(clock_.Now());
  if (!deleted.ok()) {
    // The database is down or failing over: the next sweep tries again, and
    // the nodes enforce the expiry meanwhile by themselves.
    ++errors_;
    LogWarning("rule_expiry_sweep_failed", {{"error", deleted.status().message()}});
    return deleted;
  }
  if (*deleted > 0) {
    rules_expired_ += static_cast<uint64_t>(*deleted);
    LogInfo("block_rules_expired", {{"count", static_cast<int64_t>(*deleted)}});
  }
  return deleted;
}

}  // namespace egress
