// Tells systemd (Type=notify) that the agent is ready: its nftables table,
// with the persisted rules and the REJECT counting sets, is in the kernel.
// Units ordered after egress-agent (network-pre.target) then start with the
// rules already enforced and every refused attempt counted. A no-op when not
// run by systemd ($NOTIFY_SOCKET unset).
#ifndef EGRESS_AGENT_SYSTEMD_NOTIFY_H_
#define EGRESS_AGENT_SYSTEMD_NOTIFY_H_

#include "absl/status/status.h"

namespace egress::agent {

// Sends "READY=1" to $NOTIFY_SOCKET (a path, or "@name" for the abstract
// namespace). OK when there is no socket to tell.
absl::Status NotifySystemdReady();

}  // namespace egress::agent

#endif  // EGRESS_AGENT_SYSTEMD_NOTIFY_H_
