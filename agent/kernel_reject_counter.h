// RejectCounter over libnftables (the generation map's JSON listing and
// one-transaction scripts on the agent's own table) and NftSetReader (the
// counting sets' elements, read from the kernel without a listing). Its own
// nft context, so reads never wait on a rule apply's lock; the kernel
// serializes the transactions.
#ifndef EGRESS_AGENT_KERNEL_REJECT_COUNTER_H_
#define EGRESS_AGENT_KERNEL_REJECT_COUNTER_H_

#include <memory>
#include <string>

#include "agent/nft_set_reader.h"
#include "agent/reject_counter.h"

struct nft_ctx;

namespace egress::agent {

class KernelRejectCounter : public RejectCounter {
 public:
  static absl::StatusOr<std::unique_ptr<KernelRejectCounter>> Create(const std::string& table);
  ~KernelRejectCounter() override;

  absl::StatusOr<std::optional<RejectGenerations>> Generations() override;
  absl::StatusOr<std::vector<RejectCount>> Read(int g) override;
  absl::Status Init(uint32_t number) override;
  absl::Status Switch(const RejectGenerations& gens, uint32_t number) override;
  absl::StatusOr<uint64_t> TakeUnattributed() override;

 private:
  KernelRejectCounter(nft_ctx* ctx, std::unique_ptr<NftSetReader> reader, const std::string& table)
      : ctx_(ctx), reader_(std::move(reader)), table_(table) {}
  absl::StatusOr<std::string> Run(const std::string& command);

  nft_ctx* ctx_;
  std::unique_ptr<NftSetReader> reader_;
  const std::string table_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_KERNEL_REJECT_COUNTER_H_
