#include "agent/nftables_enforcer.h"

#include <nftables/libnftables.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace egress::agent {

absl::StatusOr<std::unique_ptr<NftablesEnforcer>> NftablesEnforcer::Create(
    const NftOptions& options) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return absl::InternalError("nft_ctx_new failed");
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  return std::unique_ptr<NftablesEnforcer>(new NftablesEnforcer(ctx, options));
}

NftablesEnforcer::~NftablesEnforcer() {
  absl::MutexLock lock(&mu_);
  nft_ctx_free(ctx_);
}

absl::Status NftablesEnforcer::Run(const std::string& script) {
  absl::MutexLock lock(&mu_);
  if (nft_run_cmd_from_buffer(ctx_, script.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx_);
    return absl::InternalError(
        absl::StrCat("nft: ", absl::StripAsciiWhitespace(err != nullptr ? err : "failed")));
  }
  return absl::OkStatus();
}

absl::Status NftablesEnforcer::Apply(const v1::RuleSet& rules) {
  EGRESS_ASSIGN_OR_RETURN(std::string script, RenderRuleSet(rules, options_));
  absl::Status status = Run(script);
  if (status.ok()) return status;
  // An installed table of another layout (an older agent) refuses the
  // in-place refill; start from a clean table then. A bad rule set fails both
  // ways and changes nothing.
  EGRESS_ASSIGN_OR_RETURN(std::string recreate,
                          RenderRuleSet(rules, options_, NftApplyMode::kRecreate));
  if (Run(recreate).ok()) {
    LogWarning("nft_table_recreated", {{"after_error", std::string(status.message())}});
    return absl::OkStatus();
  }
  return status;
}

absl::Status NftablesEnforcer::Remove() { return Run(RenderDeleteTable(options_)); }

}  // namespace egress::agent
