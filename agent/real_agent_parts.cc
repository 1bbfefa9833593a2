#include "agent/real_agent_parts.h"

#include "agent/file_state_store.h"
#include "agent/kernel_reject_counter.h"
#include "agent/nftables_enforcer.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace egress::agent {

absl::StatusOr<std::unique_ptr<StateStore>> RealAgentParts::OpenStateStore() {
  return FileStateStore::Open(options_.state_dir);
}

absl::StatusOr<std::unique_ptr<Spool>> RealAgentParts::OpenSpool() {
  EGRESS_ASSIGN_OR_RETURN(std::unique_ptr<FileSpool> spool, FileSpool::Create(options_.spool));
  const SpoolStats stats = spool->stats();
  LogInfo("spool_loaded", {{"dir", options_.spool.dir},
                           {"batches", stats.batches},
                           {"next_seq", stats.next_seq},
                           {"corrupt_records", stats.corrupt_records}});
  return std::unique_ptr<Spool>(std::move(spool));
}

absl::StatusOr<std::unique_ptr<RuleEnforcer>> RealAgentParts::OpenEnforcer() {
  return NftablesEnforcer::Create(options_.nft);
}

absl::StatusOr<std::unique_ptr<ConntrackSource>> RealAgentParts::OpenConntrackSource() {
  // The kernel's counting sets count accepted connections: no listener.
  if (options_.nft.count_accepts_in_kernel) return std::unique_ptr<ConntrackSource>();
  return NetfilterConntrackSource::Create(options_.conntrack, clock_);
}

absl::StatusOr<std::unique_ptr<RejectCounter>> RealAgentParts::OpenRejectCounter() {
  if (!options_.nft.count_rejects_in_kernel) return std::unique_ptr<RejectCounter>();
  EGRESS_ASSIGN_OR_RETURN(std::unique_ptr<KernelRejectCounter> counter,
                          KernelRejectCounter::Create(options_.nft.table));
  return std::unique_ptr<RejectCounter>(std::move(counter));
}

absl::StatusOr<std::unique_ptr<EventSource>> RealAgentParts::OpenRejectSource() {
  return NflogRejectSource::Create(options_.nflog, clock_);
}

absl::StatusOr<std::unique_ptr<Uplink>> RealAgentParts::OpenUplink(Spool* spool,
                                                                   UplinkListener* listener) {
  if (options_.uplink.target.empty()) return std::unique_ptr<Uplink>();
  return GrpcUplink::Create(options_.uplink, spool, listener);
}

}  // namespace egress::agent
