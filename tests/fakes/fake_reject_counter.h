// A RejectCounter over an in-memory "kernel": two generations of counts, the
// generation map, attempts refused into the active generation (generation a
// while the map is empty, as the real table does). Durable across agents
// built from the same FakeAgentParts (the kernel outlives the process).
// Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_REJECT_COUNTER_H_
#define EGRESS_TESTS_FAKES_FAKE_REJECT_COUNTER_H_

#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/reject_counter.h"
#include "common/ip_address.h"

namespace egress::testing {

class FakeRejectKernel {
 public:
  // `count` refused TCP attempts of `uid` to ip:port, now.
  void Refuse(uint32_t uid, const char* ip, uint16_t port, uint64_t count) {
    absl::MutexLock lock(&mu_);
    const int g = gens_.has_value() ? gens_->active : 0;
    sets_[g][{uid, *IpAddress::Parse(ip), port}] += count;
  }
  // Switches fail (with nothing changed) while set.
  void FailSwitches(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_switches_ = fail;
  }
  int switches() const {
    absl::MutexLock lock(&mu_);
    return switches_;
  }

  absl::StatusOr<std::optional<agent::RejectGenerations>> Generations() {
    absl::MutexLock lock(&mu_);
    return gens_;
  }
  absl::StatusOr<std::vector<agent::RejectCount>> Read(int g) {
    absl::MutexLock lock(&mu_);
    std::vector<agent::RejectCount> out;
    for (const auto& [key, packets] : sets_[g]) {
      agent::RejectCount c;
      c.uid = std::get<0>(key);
      c.dst = std::get<1>(key);
      c.protocol = 6;
      c.port = std::get<2>(key);
      c.packets = packets;
      out.push_back(c);
    }
    return out;
  }
  absl::Status Init(uint32_t number) {
    absl::MutexLock lock(&mu_);
    gens_ = agent::RejectGenerations();
    gens_->number[0] = number;
    return absl::OkStatus();
  }
  absl::Status Switch(const agent::RejectGenerations& gens, uint32_t number) {
    absl::MutexLock lock(&mu_);
    if (fail_switches_) return absl::InternalError("switch refused");
    const int next = gens.idle();
    sets_[next].clear();
    gens_->active = next;
    gens_->number[next] = number;
    ++switches_;
    return absl::OkStatus();
  }

 private:
  mutable absl::Mutex mu_;
  std::optional<agent::RejectGenerations> gens_ ABSL_GUARDED_BY(mu_);
  std::map<std::tuple<uint32_t, IpAddress, uint16_t>, uint64_t> sets_[2] ABSL_GUARDED_BY(mu_);
  bool fail_switches_ ABSL_GUARDED_BY(mu_) = false;
  int switches_ ABSL_GUARDED_BY(mu_) = 0;
};

// What an agent gets: a handle on the durable kernel.
class FakeRejectCounter : public agent::RejectCounter {
 public:
  explicit FakeRejectCounter(FakeRejectKernel* kernel) : kernel_(kernel) {}
  absl::StatusOr<std::optional<agent::RejectGenerations>> Generations() override {
    return kernel_->Generations();
  }
  absl::StatusOr<std::vector<agent::RejectCount>> Read(int g) override { return kernel_->Read(g); }
  absl::Status Init(uint32_t number) override { return kernel_->Init(number); }
  absl::Status Switch(const agent::RejectGenerations& gens, uint32_t number) override {
    return kernel_->Switch(gens, number);
  }
  // The fake's kernel has no non-account users.
  absl::StatusOr<uint64_t> TakeUnattributed() override { return 0; }

 private:
  FakeRejectKernel* kernel_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_REJECT_COUNTER_H_
