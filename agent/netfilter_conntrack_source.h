// EventSource over libnetfilter_conntrack: NEW events of connections that
// the agent's nftables table marked as an account's (AccountMark), i.e.
// locally originated, not to loopback or exempt networks. Connections the
// table marked kUnattributedMark (other local users) are only counted in
// stats().unattributed. A kernel-side filter on the marks keeps every other
// connection off the socket.
//
// Each event becomes an ACCEPT ConnectionEvent with the uid from the mark, the
// original direction's destination, protocol and destination port, and the
// conntrack start timestamp (net.netfilter.nf_conntrack_timestamp=1, which
// Create() turns on) or else the clock's time.
//
// ENOBUFS: the buffer doubles up to `max_rcvbuf_bytes`, and once the socket
// is drained the source recovers what was dropped the way conntrackd resyncs:
// it dumps the table and delivers the account entries that started after the
// socket was last empty and were not delivered since (it remembers the ids of
// events delivered since the last drain). Only if that dump fails does the
// overrun count as lost (TakeLostEvents, 1 per overrun: a lower bound).
#ifndef EGRESS_AGENT_NETFILTER_CONNTRACK_SOURCE_H_
#define EGRESS_AGENT_NETFILTER_CONNTRACK_SOURCE_H_

#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "agent/clock.h"
#include "agent/conntrack_source.h"

struct nfct_handle;
struct nf_conntrack;

namespace egress::agent {

struct ConntrackSourceOptions {
  // Receive buffer asked for at start (SO_RCVBUFFORCE; the kernel doubles it).
  int rcvbuf_bytes = 8 << 20;
  // Cap for growth after ENOBUFS.
  int max_rcvbuf_bytes = 64 << 20;
};

class NetfilterConntrackSource : public ConntrackSource {
 public:
  // `clock` must outlive the source. Needs CAP_NET_ADMIN (PermissionDenied
  // otherwise); Internal for other socket failures.
  static absl::StatusOr<std::unique_ptr<NetfilterConntrackSource>> Create(
      const ConntrackSourceOptions& options, const Clock* clock);
  ~NetfilterConntrackSource() override;

  int fd() const override;
  absl::StatusOr<size_t> ReadAvailable(size_t max_events, const EventSink& sink) override;
  uint64_t TakeLostEvents() override;
  EventSourceStats stats() const override { return stats_; }

  // ConntrackSource. Resync dumps the table; entries delivered by it are
  // remembered, so that their NEW events still queued on the event socket
  // (opened before the dump) are not counted twice. Needs conntrack start
  // timestamps; entries without one are skipped. Bound: a connection whose
  // entry has already expired (about 10 s after a TCP close here, 30 s for
  // UDP) cannot be recovered. ResyncWindow reads
  // nf_conntrack_tcp_timeout_close (10 s if unreadable).
  uint64_t TakeRecoveredOverruns() override { return std::exchange(recovered_overruns_, 0); }
  uint64_t last_drain_nanos() const override { return last_drain_nanos_; }
  absl::StatusOr<size_t> Resync(uint64_t after_unix_nanos, const EventSink& sink) override;
  absl::Duration ResyncWindow() const override;
  int events_sysctl() const override { return events_sysctl_; }

  // Internal: the libnetfilter_conntrack callbacks' bodies.
  int HandleEvent(const ::nf_conntrack* ct);
  int HandleDumpEntry(const ::nf_conntrack* ct);

 private:
  absl::Status Dump(uint64_t after_unix_nanos);
  void RecoverOverrun();

 private:
  NetfilterConntrackSource(nfct_handle* handle, const ConntrackSourceOptions& options,
                           const Clock* clock);

  nfct_handle* handle_;
  ConntrackSourceOptions options_;
  const Clock* clock_;
  int events_sysctl_ = -1;
  EventSourceStats stats_;
  uint64_t lost_pending_ = 0;
  bool in_overrun_burst_ = false;
  // Parses a marked entry; false if it is not an account's connection.
  // `start_nanos` is 0 when the message has no start timestamp (the kernel
  // puts one in dumps and DESTROY events, never in NEW events).
  bool Parse(const ::nf_conntrack* ct, ConnectionEvent* event, uint64_t* start_nanos) const;
  // Identifies one conntrack entry in events and dumps alike.
  using EntryKey = std::pair<uint32_t, uint64_t>;
  static EntryKey KeyOf(const ::nf_conntrack* ct);

  // (conntrack id, start time) of entries counted by Resync whose NEW event
  // may still arrive; cleared once events are well past the dump.
  absl::flat_hash_set<EntryKey> resynced_;
  uint64_t resync_until_nanos_ = 0;
  // Events delivered since the socket was last drained (EAGAIN).
  absl::flat_hash_set<EntryKey> since_drain_;
  uint64_t last_drain_nanos_ = 0;
  bool overrun_pending_ = false;
  uint64_t overrun_from_nanos_ = 0;
  uint64_t overruns_pending_loss_ = 0;
  uint64_t recovered_overruns_ = 0;
  uint64_t resync_after_nanos_ = 0;
  size_t resync_delivered_ = 0;
  // Valid during ReadAvailable only.
  const EventSink* sink_ = nullptr;
  size_t budget_ = 0;
  size_t delivered_ = 0;
};

// Reads net.netfilter.nf_conntrack_events of the current namespace; -1 if
// unreadable.
int ReadConntrackEventsSysctl();

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NETFILTER_CONNTRACK_SOURCE_H_
