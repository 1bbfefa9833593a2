#include "agent/kernel_reject_counter.h"

#include <nftables/libnftables.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace egress::agent {

absl::StatusOr<std::unique_ptr<KernelRejectCounter>> KernelRejectCounter::Create(
    const std::string& table) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return absl::InternalError("nft_ctx_new failed");
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  // Numbers, never names: uids of real users would print as user names.
  nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_NUMERIC_ALL);
  absl::StatusOr<std::unique_ptr<NftSetReader>> reader = NftSetReader::Open();
  if (!reader.ok()) {
    nft_ctx_free(ctx);
    return reader.status();
  }
  return std::unique_ptr<KernelRejectCounter>(
      new KernelRejectCounter(ctx, std::move(*reader), table));
}

KernelRejectCounter::~KernelRejectCounter() { nft_ctx_free(ctx_); }

absl::StatusOr<std::string> KernelRejectCounter::Run(const std::string& command) {
  if (nft_run_cmd_from_buffer(ctx_, command.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx_);
    return absl::InternalError(
        absl::StrCat("nft: ", absl::StripAsciiWhitespace(err != nullptr ? err : "failed")));
  }
  const char* out = nft_ctx_get_output_buffer(ctx_);
  return std::string(out != nullptr ? out : "");
}

absl::StatusOr<std::optional<RejectGenerations>> KernelRejectCounter::Generations() {
  EGRESS_ASSIGN_OR_RETURN(std::string json, Run(absl::StrCat("list map inet ", table_, " rc_gen")));
  return ParseRejectGenerations(json);
}

absl::StatusOr<std::vector<RejectCount>> KernelRejectCounter::Read(int g) {
  std::vector<RejectCount> all;
  const std::vector<std::string> names = RejectCountSetNames(g);
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    EGRESS_ASSIGN_OR_RETURN(std::vector<NftSetElement> elements, reader_->Read(table_, names[i]));
    for (const NftSetElement& e : elements) {
      EGRESS_ASSIGN_OR_RETURN(RejectCount count,
                              DecodeCountElement(i, e.key, e.packets, e.expires_ms));
      all.push_back(count);
    }
  }
  return all;
}

absl::StatusOr<uint64_t> KernelRejectCounter::TakeUnattributed() {
  EGRESS_ASSIGN_OR_RETURN(std::string json,
                          Run(absl::StrCat("reset counter inet ", table_, " unattributed")));
  return ParseCounterPackets(json);
}

absl::Status KernelRejectCounter::Init(uint32_t number) {
  return Run(RenderGenerationInit(table_, number)).status();
}

absl::Status KernelRejectCounter::Switch(const RejectGenerations& gens, uint32_t number) {
  return Run(RenderGenerationSwitch(table_, gens, number)).status();
}

}  // namespace egress::agent
