// The agent's small persistent state: the last rule set it applied (so that
// at boot it can enforce it before the service is reachable, failing closed)
// and the service's time zone (so days stay right while offline).
//
// Contract: a Save that returns OK survives a crash of the process and of the
// machine, and a crash during a Save leaves the old or the new value, never a
// torn one. Implementations are thread-safe.
#ifndef EGRESS_AGENT_STATE_STORE_H_
#define EGRESS_AGENT_STATE_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual absl::Status SaveRuleSet(const v1::RuleSet& rules) const = 0;
  // nullopt when none was saved; DataLoss when what was saved does not parse.
  virtual absl::StatusOr<std::optional<v1::RuleSet>> LoadRuleSet() const = 0;

  virtual absl::Status SaveTimeZone(const std::string& name) const = 0;
  // Empty when none was saved.
  virtual std::string LoadTimeZone() const = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_STATE_STORE_H_
