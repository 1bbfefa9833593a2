// RuleEnforcer over libnftables: each Apply() is one nft_run_cmd_from_buffer
// call, which the kernel commits as one transaction: the element delta from
// the previous Apply() when there was one (computed by NftElementsCache from
// the accounts and rules that changed, so both the user-space work and the
// transaction are proportional to the change), else the whole table refilled
// in place; if that fails because the installed table has another layout,
// the table is recreated. Only the agent's own `inet <table>` is
// ever named; other tables are never touched.
#ifndef EGRESS_AGENT_NFTABLES_ENFORCER_H_
#define EGRESS_AGENT_NFTABLES_ENFORCER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/nft_elements_cache.h"
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
  // The table with its attribution map (uid2mark) is in the kernel.
  bool TableInstalled() override;

  // Runs `script` as one transaction (exposed for tests and benchmarks).
  absl::Status Run(const std::string& script);

  // Successful applies by the way they reached the kernel.
  struct Stats {
    uint64_t deltas = 0;     // element delta (or nothing to change)
    uint64_t refills = 0;    // whole table refilled in place
    uint64_t recreates = 0;  // table deleted and recreated
  };
  Stats stats() const;

 private:
  NftablesEnforcer(nft_ctx* ctx, const NftOptions& options) : ctx_(ctx), options_(options) {}

  absl::Status RunLocked(const std::string& script) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  nft_ctx* ctx_ ABSL_GUARDED_BY(mu_);
  // What the last successful Apply() installed; deltas start from it.
  NftElementsCache applied_ ABSL_GUARDED_BY(mu_);
  // False until an Apply() succeeds and after Remove(): the next Apply()
  // refills the whole table.
  bool installed_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  const NftOptions options_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NFTABLES_ENFORCER_H_
