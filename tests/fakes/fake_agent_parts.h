// AgentParts that hand out the fakes of tests/fakes, so an Agent runs its
// real logic (event loop, sealing, high-water mark, losses, rule replay)
// without a kernel, a disk or a service.
//
// The state store, the spool and the enforcer's kernel are durable: every
// Agent built from the same parts sees what the previous one left (a
// restart); store(), spool() and enforcer() look at them. The sources and
// the uplink belong to one Agent: conntrack(), rejects() and uplink() are
// the latest Agent's, valid while it lives (nullptr before; uplink() also
// when offline). Not thread-safe itself: build agents from one thread.
#ifndef EGRESS_TESTS_FAKES_FAKE_AGENT_PARTS_H_
#define EGRESS_TESTS_FAKES_FAKE_AGENT_PARTS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "agent/agent_parts.h"
#include "common/clock.h"
#include "tests/fakes/fake_event_source.h"
#include "tests/fakes/fake_reject_counter.h"
#include "tests/fakes/fake_rule_enforcer.h"
#include "tests/fakes/fake_spool.h"
#include "tests/fakes/fake_state_store.h"
#include "tests/fakes/fake_uplink.h"

namespace egress::testing {

class FakeAgentParts final : public agent::AgentParts {
 public:
  // `clock` must outlive the parts and what they hand out.
  explicit FakeAgentParts(const Clock* clock) : clock_(clock) {}

  FakeStateStore& store() { return store_; }
  FakeSpool& spool() { return spool_; }
  FakeRuleEnforcer& enforcer() { return enforcer_; }
  FakeEventSource* conntrack() { return conntrack_; }
  FakeEventSource* rejects() { return rejects_; }
  FakeUplink* uplink() { return uplink_; }

  // REJECTs counted by this fake kernel instead of the reject source.
  void set_reject_kernel(FakeRejectKernel* kernel) { reject_kernel_ = kernel; }
  // No service configured: OpenUplink hands out none.
  void set_offline(bool offline) { offline_ = offline; }
  // Runs inside the uplink's Start() (see FakeUplink).
  void set_on_uplink_start(std::function<void()> on_start) { on_uplink_start_ = on_start; }
  // The Open of `part` ("state", "spool", "enforcer", "conntrack", "rejects",
  // "uplink") fails with `status`.
  void FailOpen(const std::string& part, absl::Status status) { failures_[part] = status; }
  // The parts opened, in order.
  const std::vector<std::string>& opened() const { return opened_; }

  // agent::AgentParts.
  absl::StatusOr<std::unique_ptr<agent::StateStore>> OpenStateStore() override;
  absl::StatusOr<std::unique_ptr<agent::Spool>> OpenSpool() override;
  absl::StatusOr<std::unique_ptr<agent::RuleEnforcer>> OpenEnforcer() override;
  absl::StatusOr<std::unique_ptr<agent::ConntrackSource>> OpenConntrackSource() override;
  absl::StatusOr<std::unique_ptr<agent::RejectCounter>> OpenRejectCounter() override {
    if (reject_kernel_ == nullptr) return std::unique_ptr<agent::RejectCounter>();
    return std::unique_ptr<agent::RejectCounter>(new FakeRejectCounter(reject_kernel_));
  }
  absl::StatusOr<std::unique_ptr<agent::EventSource>> OpenRejectSource() override;
  absl::StatusOr<std::unique_ptr<agent::Uplink>> OpenUplink(
      agent::Spool* spool, agent::UplinkListener* listener) override;

 private:
  absl::Status Open(const std::string& part);

  const Clock* clock_;
  FakeStateStore store_;
  FakeSpool spool_;
  FakeRuleEnforcer enforcer_;
  FakeEventSource* conntrack_ = nullptr;
  FakeEventSource* rejects_ = nullptr;
  FakeUplink* uplink_ = nullptr;
  bool offline_ = false;
  FakeRejectKernel* reject_kernel_ = nullptr;
  std::function<void()> on_uplink_start_;
  absl::flat_hash_map<std::string, absl::Status> failures_;
  std::vector<std::string> opened_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_AGENT_PARTS_H_
