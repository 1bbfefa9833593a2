#include "tests/fakes/fake_agent_parts.h"

#include "common/status_macros.h"

namespace egress::testing {

absl::Status FakeAgentParts::Open(const std::string& part) {
  if (auto it = failures_.find(part); it != failures_.end()) return it->second;
  opened_.push_back(part);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<agent::StateStore>> FakeAgentParts::OpenStateStore() {
  EGRESS_RETURN_IF_ERROR(Open("state"));
  return store_.Reopen();
}

absl::StatusOr<std::unique_ptr<agent::Spool>> FakeAgentParts::OpenSpool() {
  EGRESS_RETURN_IF_ERROR(Open("spool"));
  return spool_.Reopen();
}

absl::StatusOr<std::unique_ptr<agent::RuleEnforcer>> FakeAgentParts::OpenEnforcer() {
  EGRESS_RETURN_IF_ERROR(Open("enforcer"));
  return enforcer_.Reopen();
}

absl::StatusOr<std::unique_ptr<agent::ConntrackSource>> FakeAgentParts::OpenConntrackSource() {
  EGRESS_RETURN_IF_ERROR(Open("conntrack"));
  auto source = std::make_unique<FakeEventSource>(clock_);
  conntrack_ = source.get();
  return source;
}

absl::StatusOr<std::unique_ptr<agent::EventSource>> FakeAgentParts::OpenRejectSource() {
  EGRESS_RETURN_IF_ERROR(Open("rejects"));
  auto source = std::make_unique<FakeEventSource>(clock_);
  rejects_ = source.get();
  return source;
}

absl::StatusOr<std::unique_ptr<agent::Uplink>> FakeAgentParts::OpenUplink(
    agent::Spool* spool, agent::UplinkListener* listener) {
  EGRESS_RETURN_IF_ERROR(Open("uplink"));
  if (offline_) {
    uplink_ = nullptr;
    return std::unique_ptr<agent::Uplink>();
  }
  auto uplink = std::make_unique<FakeUplink>(spool, listener, on_uplink_start_);
  uplink_ = uplink.get();
  return uplink;
}

}  // namespace egress::testing
