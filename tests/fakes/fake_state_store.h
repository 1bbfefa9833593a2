// An in-memory agent StateStore. What was saved survives a restart of the
// agent (Reopen(): the restarted agent's store over the same contents).
// Test side: seed the contents, make saves fail, count the saves.
// Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_STATE_STORE_H_
#define EGRESS_TESTS_FAKES_FAKE_STATE_STORE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/state_store.h"

namespace egress::testing {

class FakeStateStore final : public agent::StateStore {
 public:
  FakeStateStore() : contents_(std::make_shared<Contents>()) {}
  std::unique_ptr<FakeStateStore> Reopen() const {
    return std::unique_ptr<FakeStateStore>(new FakeStateStore(contents_));
  }

  // Test side.
  std::optional<v1::RuleSet> rules() const {
    absl::MutexLock lock(&contents_->mu);
    return contents_->rules;
  }
  std::string time_zone() const {
    absl::MutexLock lock(&contents_->mu);
    return contents_->time_zone;
  }
  int rule_set_saves() const {
    absl::MutexLock lock(&contents_->mu);
    return contents_->rule_set_saves;
  }
  // Saves fail with `status` (OK: they succeed again).
  void FailSaves(absl::Status status) {
    absl::MutexLock lock(&contents_->mu);
    contents_->save_error = std::move(status);
  }
  // What is saved does not parse (LoadRuleSet: DataLoss).
  void CorruptRuleSet() {
    absl::MutexLock lock(&contents_->mu);
    contents_->corrupt = true;
  }

  // agent::StateStore (the Saves are also how a test seeds the contents).
  absl::Status SaveRuleSet(const v1::RuleSet& rules) const override {
    absl::MutexLock lock(&contents_->mu);
    if (!contents_->save_error.ok()) return contents_->save_error;
    contents_->rules = rules;
    contents_->corrupt = false;
    ++contents_->rule_set_saves;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::RuleSet>> LoadRuleSet() const override {
    absl::MutexLock lock(&contents_->mu);
    if (contents_->corrupt) return absl::DataLossError("the saved rule set does not parse");
    return contents_->rules;
  }
  absl::Status SaveTimeZone(const std::string& name) const override {
    absl::MutexLock lock(&contents_->mu);
    if (!contents_->save_error.ok()) return contents_->save_error;
    contents_->time_zone = name;
    return absl::OkStatus();
  }
  std::string LoadTimeZone() const override {
    absl::MutexLock lock(&contents_->mu);
    return contents_->time_zone;
  }

 private:
  struct Contents {
    mutable absl::Mutex mu;
    std::optional<v1::RuleSet> rules ABSL_GUARDED_BY(mu);
    std::string time_zone ABSL_GUARDED_BY(mu);
    bool corrupt ABSL_GUARDED_BY(mu) = false;
    int rule_set_saves ABSL_GUARDED_BY(mu) = 0;
    absl::Status save_error ABSL_GUARDED_BY(mu);
  };
  explicit FakeStateStore(std::shared_ptr<Contents> contents) : contents_(std::move(contents)) {}

  std::shared_ptr<Contents> contents_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_STATE_STORE_H_
