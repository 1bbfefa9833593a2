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
  return RunLocked(script);
}

absl::Status NftablesEnforcer::RunLocked(const std::string& script) {
  if (nft_run_cmd_from_buffer(ctx_, script.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx_);
    return absl::InternalError(
        absl::StrCat("nft: ", absl::StripAsciiWhitespace(err != nullptr ? err : "failed")));
  }
  return absl::OkStatus();
}

absl::Status NftablesEnforcer::Apply(const v1::RuleSet& rules) {
  absl::MutexLock lock(&mu_);
  // Temporary rules: what expired by now is left out, the rest gets the
  // time it has left as kernel timeouts (also when a rule set saved before a
  // restart is applied again).
  const absl::Time now = absl::Now();
  // A bad RuleSet stops here: neither the kernel nor the cache changes.
  EGRESS_ASSIGN_OR_RETURN(NftElementsCache::Update update, applied_.Prepare(rules, now));
  if (installed_) {
    const std::string delta = RenderDelta(update.delta(), rules.version(), options_, now);
    if (delta.empty() || RunLocked(delta).ok()) {
      applied_.Commit(std::move(update));
      ++stats_.deltas;
      return absl::OkStatus();
    }
    // The table is not what we left (changed by hand?): refill it whole.
  }
  // The whole table, built afresh: the cache holds the new RuleSet only
  // after Commit, which waits for the kernel. Rare (start, a failed delta),
  // and the kernel's refill costs far more than this build.
  NftElementExpiries expiries;
  EGRESS_ASSIGN_OR_RETURN(NftElements elements, BuildElements(rules, &expiries, now));
  absl::Status status = RunLocked(
      RenderScript(elements, rules.version(), options_, NftApplyMode::kInPlace, &expiries, now));
  if (!status.ok()) {
    // An installed table of another layout (an older agent) refuses the
    // in-place refill; start from a clean table then. A bad rule set fails
    // both ways and changes nothing.
    if (!RunLocked(RenderScript(elements, rules.version(), options_, NftApplyMode::kRecreate,
                                &expiries, now))
             .ok()) {
      return status;
    }
    LogWarning("nft_table_recreated", {{"after_error", std::string(status.message())}});
    ++stats_.recreates;
  } else {
    ++stats_.refills;
  }
  applied_.Commit(std::move(update));
  installed_ = true;
  return absl::OkStatus();
}

bool NftablesEnforcer::TableInstalled() {
  absl::MutexLock lock(&mu_);
  return RunLocked(absl::StrCat("list map inet ", options_.table, " uid2mark\n")).ok();
}

NftablesEnforcer::Stats NftablesEnforcer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status NftablesEnforcer::Remove() {
  absl::MutexLock lock(&mu_);
  applied_.Clear();
  installed_ = false;
  return RunLocked(RenderDeleteTable(options_));
}

}  // namespace egress::agent
