// The agent's real parts, built from the options main.cc fills from its
// flags: a FileStateStore and a FileSpool on disk, the NftablesEnforcer, the
// conntrack and NFLOG netlink sources and the gRPC uplink.
#ifndef EGRESS_AGENT_REAL_AGENT_PARTS_H_
#define EGRESS_AGENT_REAL_AGENT_PARTS_H_

#include <memory>
#include <string>

#include "agent/agent_parts.h"
#include "agent/clock.h"
#include "agent/file_spool.h"
#include "agent/grpc_uplink.h"
#include "agent/netfilter_conntrack_source.h"
#include "agent/nflog_reject_source.h"
#include "agent/nft_script.h"

namespace egress::agent {

struct RealAgentPartsOptions {
  std::string state_dir;
  FileSpoolOptions spool;
  ConntrackSourceOptions conntrack;
  NflogSourceOptions nflog;
  NftOptions nft;
  // Empty target: no uplink (records stay in the spool).
  GrpcUplinkOptions uplink;
};

class RealAgentParts : public AgentParts {
 public:
  // `clock` must outlive the parts built (the event sources read it).
  RealAgentParts(const RealAgentPartsOptions& options, const Clock* clock)
      : options_(options), clock_(clock) {}

  absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore() override;
  absl::StatusOr<std::unique_ptr<Spool>> OpenSpool() override;
  absl::StatusOr<std::unique_ptr<RuleEnforcer>> OpenEnforcer() override;
  absl::StatusOr<std::unique_ptr<ConntrackSource>> OpenConntrackSource() override;
  absl::StatusOr<std::unique_ptr<RejectCounter>> OpenRejectCounter() override;
  absl::StatusOr<std::unique_ptr<EventSource>> OpenRejectSource() override;
  absl::StatusOr<std::unique_ptr<Uplink>> OpenUplink(Spool* spool,
                                                     UplinkListener* listener) override;

 private:
  const RealAgentPartsOptions options_;
  const Clock* clock_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_REAL_AGENT_PARTS_H_
