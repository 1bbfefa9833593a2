// A RuleEnforcer that keeps what it was asked to enforce, as the kernel
// would: Apply() replaces the installed rule set atomically, or fails and
// leaves it (FailVersion / FailApplies); Remove() takes it away. The
// installed rules outlive the agent (Reopen(): the restarted agent's
// enforcer over the same kernel) until Reboot(). Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_RULE_ENFORCER_H_
#define EGRESS_TESTS_FAKES_FAKE_RULE_ENFORCER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/rule_enforcer.h"

namespace egress::testing {

class FakeRuleEnforcer final : public agent::RuleEnforcer {
 public:
  FakeRuleEnforcer() : kernel_(std::make_shared<Kernel>()) {}
  std::unique_ptr<FakeRuleEnforcer> Reopen() const {
    return std::unique_ptr<FakeRuleEnforcer>(new FakeRuleEnforcer(kernel_));
  }

  // Test side.
  // The kernel forgets every rule (a reboot).
  void Reboot() {
    absl::MutexLock lock(&kernel_->mu);
    kernel_->installed.reset();
  }
  // Applying a rule set of `version` fails with an nft-like error.
  void FailVersion(uint64_t version) {
    absl::MutexLock lock(&kernel_->mu);
    kernel_->failing_versions.insert(version);
  }
  std::optional<v1::RuleSet> installed() const {
    absl::MutexLock lock(&kernel_->mu);
    return kernel_->installed;
  }
  // The version of every successful Apply, in order.
  std::vector<uint64_t> applied_versions() const {
    absl::MutexLock lock(&kernel_->mu);
    return kernel_->applied_versions;
  }
  int removes() const {
    absl::MutexLock lock(&kernel_->mu);
    return kernel_->removes;
  }

  // agent::RuleEnforcer.
  bool TableInstalled() override {
    absl::MutexLock lock(&kernel_->mu);
    return kernel_->installed.has_value();
  }
  absl::Status Apply(const v1::RuleSet& rules) override {
    absl::MutexLock lock(&kernel_->mu);
    if (kernel_->failing_versions.contains(rules.version())) {
      return absl::InternalError("the kernel refused the rule set");
    }
    kernel_->installed = rules;
    kernel_->applied_versions.push_back(rules.version());
    return absl::OkStatus();
  }
  absl::Status Remove() override {
    absl::MutexLock lock(&kernel_->mu);
    kernel_->installed.reset();
    ++kernel_->removes;
    return absl::OkStatus();
  }

 private:
  struct Kernel {
    mutable absl::Mutex mu;
    std::optional<v1::RuleSet> installed ABSL_GUARDED_BY(mu);
    std::vector<uint64_t> applied_versions ABSL_GUARDED_BY(mu);
    absl::flat_hash_set<uint64_t> failing_versions ABSL_GUARDED_BY(mu);
    int removes ABSL_GUARDED_BY(mu) = 0;
  };
  explicit FakeRuleEnforcer(std::shared_ptr<Kernel> kernel) : kernel_(std::move(kernel)) {}

  std::shared_ptr<Kernel> kernel_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_RULE_ENFORCER_H_
