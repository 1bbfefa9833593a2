// Deletes temporary block rules once they run out (RulesStore::
// DeleteExpiredBlockRules: audited "block_rule.expire", rule version bumped,
// so the node's stream pushes the smaller rule set and the panel stops
// listing them).
//
// Nodes stop enforcing a rule at its expiry by themselves (kernel set
// element timeouts); the sweep is what makes the database, the panel and the
// audit log agree, so it runs every `interval` (1 s by default): a rule is
// gone from the panel at most about a second after it ran out. Each sweep is
// one indexed read of the expiring rules (partial index, a few rows) when
// nothing ran out. Every replica sweeps; they meet under the account's row
// lock and the second finds nothing left to delete.
//
// Thread-safe. The store and the clock must outlive the sweeper; the
// destructor (or Stop) ends the thread.
#ifndef EGRESS_SERVICE_RULE_EXPIRY_SWEEPER_H_
#define EGRESS_SERVICE_RULE_EXPIRY_SWEEPER_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "service/storage/rules_store.h"

namespace egress {

class RuleExpirySweeper {
 public:
  RuleExpirySweeper(RulesStore* store, const Clock* clock, absl::Duration interval);
  ~RuleExpirySweeper();
  RuleExpirySweeper(const RuleExpirySweeper&) = delete;
  RuleExpirySweeper& operator=(const RuleExpirySweeper&) = delete;

  void Start();
  void Stop();

  // One sweep now: how many rules were deleted.
  absl::StatusOr<int> SweepOnce();

  uint64_t rules_expired() const { return rules_expired_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  RulesStore& store_;
  const Clock& clock_;
  const absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
  std::atomic<uint64_t> rules_expired_{0};
  std::atomic<uint64_t> errors_{0};
};

}  // namespace egress

#endif  // EGRESS_SERVICE_RULE_EXPIRY_SWEEPER_H_
