// StateStore in a directory. Files in `dir`: rules.pb (a serialized RuleSet)
// and time_zone (text). Each is replaced by write-to-temporary, fsync,
// rename, fsync of the directory. No shared mutable state.
#ifndef EGRESS_AGENT_FILE_STATE_STORE_H_
#define EGRESS_AGENT_FILE_STATE_STORE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/state_store.h"

namespace egress::agent {

class FileStateStore : public StateStore {
 public:
  // Creates `dir` if needed.
  static absl::StatusOr<std::unique_ptr<FileStateStore>> Open(const std::string& dir);

  absl::Status SaveRuleSet(const v1::RuleSet& rules) const override;
  absl::StatusOr<std::optional<v1::RuleSet>> LoadRuleSet() const override;
  absl::Status SaveTimeZone(const std::string& name) const override;
  std::string LoadTimeZone() const override;

 private:
  explicit FileStateStore(std::string dir) : dir_(std::move(dir)) {}
  absl::Status WriteFileAtomically(const std::string& name, const std::string& data) const;

  std::string dir_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_FILE_STATE_STORE_H_
