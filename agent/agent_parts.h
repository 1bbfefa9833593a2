// What the agent is made of, behind the seams the agent's logic is tested
// through: the state store, the spool, the rule enforcer, the two event
// sources and the uplink. Agent::Create asks for each part in the order the
// node needs them (state, spool, enforcer; then, once the persisted rules
// are enforced, the sources; the uplink last), so a part that fails to open
// leaves what came before it in force. RealAgentParts builds the real ones
// (files, netlink, nftables, gRPC); tests hand out fakes.
//
// Contract: each Open is called at most once per Agent::Create, on the
// calling thread; an error aborts Create with that status. The parts object
// is used during Create only. What the parts keep pointers to (`spool`,
// `listener`) outlives them.
#ifndef EGRESS_AGENT_AGENT_PARTS_H_
#define EGRESS_AGENT_AGENT_PARTS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/conntrack_source.h"
#include "agent/event_source.h"
#include "agent/reject_counter.h"
#include "agent/rule_enforcer.h"
#include "agent/spool.h"
#include "agent/state_store.h"
#include "agent/uplink.h"

namespace egress::agent {

class AgentParts {
 public:
  virtual ~AgentParts() = default;
  virtual absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore() = 0;
  virtual absl::StatusOr<std::unique_ptr<Spool>> OpenSpool() = 0;
  virtual absl::StatusOr<std::unique_ptr<RuleEnforcer>> OpenEnforcer() = 0;
  // Accepted connections (conntrack).
  virtual absl::StatusOr<std::unique_ptr<ConntrackSource>> OpenConntrackSource() = 0;
  // Rejected attempts counted by the kernel (reject_counter.h); nullptr
  // when REJECTs come from the reject chain's log instead.
  virtual absl::StatusOr<std::unique_ptr<RejectCounter>> OpenRejectCounter() {
    return std::unique_ptr<RejectCounter>();
  }
  // Rejected attempts (the reject chain's log); only asked for when
  // OpenRejectCounter gave nullptr.
  virtual absl::StatusOr<std::unique_ptr<EventSource>> OpenRejectSource() = 0;
  // Not started. nullptr: no service is configured, the agent runs offline
  // (records stay in the spool).
  virtual absl::StatusOr<std::unique_ptr<Uplink>> OpenUplink(Spool* spool,
                                                             UplinkListener* listener) = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_AGENT_PARTS_H_
