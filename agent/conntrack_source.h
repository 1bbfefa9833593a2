// The event source of accepted connections (conntrack NEW events), with what
// the agent needs beyond EventSource to lose nothing across overruns and
// restarts: the high-water mark (when the source was last drained) and a
// resync that recounts, from the kernel's table, the connections that started
// after a given mark.
//
// Contract (in addition to EventSource's):
//  - last_drain_nanos(): when (Unix ns, the clock's time) the source was last
//    read empty; every account connection that started before it has been
//    delivered. Sealed with each batch as its high-water mark.
//  - Resync(after, sink) delivers, through `sink`, the account connections
//    still known to the kernel that started after `after_unix_nanos` (those a
//    previous run could not count), each once: their events still queued are
//    not delivered again. Returns how many it delivered.
//  - ResyncWindow(): the shortest time the kernel keeps a finished
//    connection; after a longer downtime a Resync may miss some.
//  - TakeRecoveredOverruns(): overruns recovered by a table dump since the
//    previous call. A dump cannot prove it found every dropped event, so the
//    agent still flags the day (a LossReport of unknown size).
//  - events_sysctl(): net.netfilter.nf_conntrack_events when the source was
//    opened (-1 if unreadable); 0 means the kernel sends no events at all.
#ifndef EGRESS_AGENT_CONNTRACK_SOURCE_H_
#define EGRESS_AGENT_CONNTRACK_SOURCE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/event_source.h"

namespace egress::agent {

class ConntrackSource : public EventSource {
 public:
  virtual uint64_t TakeRecoveredOverruns() = 0;
  virtual uint64_t last_drain_nanos() const = 0;
  virtual absl::StatusOr<size_t> Resync(uint64_t after_unix_nanos, const EventSink& sink) = 0;
  virtual absl::Duration ResyncWindow() const = 0;
  virtual int events_sysctl() const = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_CONNTRACK_SOURCE_H_
