// RuleEnforcer over libnftables: each Apply() is one nft_run_cmd_from_buffer
// call, which the kernel commits as one transaction: the element delta from
// the previous Apply() when there was one (cost proportional to the change),
// else the whole table refilled in place; if that fails because the installed
// table has another layout, the table is recreated. Only the agent's own `inet <table>` is
// ever named; other tables are never touched.
#ifndef EGRESS_AGENT_NFTABLES_ENFORCER_H_
#define EGRESS_AGENT_NFTABLES_ENFORCER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/nft_script.h"
#include "agent/rule_enforcer.h"

struct nft_ctx;

namespace egress::agent {

class NftablesEnforcer : public RuleEnforcer {
 public:
  static absl::StatusOr<std::unique_ptr<NftablesEnforcer>> Create(const NftOptions& options);
  ~NftablesEnforcer() override;

  absl::Status Apply(const v1::RuleSet& rules) override;
  absl::Status Remove() override;

  // Runs `script` as one transaction (exposed for tests and benchmarks).
  absl::Status Run(const std::string& script);

 private:
  NftablesEnforcer(nft_ctx* ctx, const NftOptions& options) : ctx_(ctx), options_(options) {}

  absl::Status RunLocked(const std::string& script) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  nft_ctx* ctx_ ABSL_GUARDED_BY(mu_);
  // What the last successful Apply() installed; deltas start from it.
  std::optional<NftElements> applied_ ABSL_GUARDED_BY(mu_);
  const NftOptions options_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NFTABLES_ENFORCER_H_
