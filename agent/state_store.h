// The agent's small persistent state: the last rule set it applied (so that
// at boot it can enforce it before the service is reachable, failing closed)
// and the service's time zone (so days stay right while offline).
//
// Files in `dir`: rules.pb (a serialized RuleSet) and time_zone (text). Each
// is replaced by write-to-temporary, fsync, rename: a crash leaves the old or
// the new file, never a torn one. Thread-safe (no shared mutable state).
#ifndef EGRESS_AGENT_STATE_STORE_H_
#define EGRESS_AGENT_STATE_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

class StateStore {
 public:
  // Creates `dir` if needed.
  static absl::StatusOr<StateStore> Open(const std::string& dir);

  absl::Status SaveRuleSet(const v1::RuleSet& rules) const;
  // nullopt when none was saved; DataLoss when the file does not parse.
  absl::StatusOr<std::optional<v1::RuleSet>> LoadRuleSet() const;

  absl::Status SaveTimeZone(const std::string& name) const;
  // Empty when none was saved.
  std::string LoadTimeZone() const;

 private:
  explicit StateStore(std::string dir) : dir_(std::move(dir)) {}
  absl::Status WriteFileAtomically(const std::string& name, const std::string& data) const;

  std::string dir_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_STATE_STORE_H_
