// EventSource over libnetfilter_log: the rejected attempts that the agent's
// reject chain logs to an NFLOG group (see nft_script.h). Each logged packet
// becomes a REJECT ConnectionEvent with the socket owner's uid (NFULA_UID),
// the destination, protocol and port parsed from the copied headers, and the
// time the agent read it.
//
// Why NFLOG rather than dynamic sets with per-element counters: the log gives
// each attempt with its exact time (so the civil day is right) and needs no
// polling of the whole set or delta bookkeeping against counters that nft
// 1.0.6 cannot reset; the per-instance sequence numbers (NFULNL_CFG_F_SEQ)
// make losses on the socket exactly countable. The cost: attempts made while
// the agent is not running (crash, restart) are not logged at all, and those
// sitting in the socket when it dies are lost; neither is counted. Counters
// would survive a crash; that trade is written down in agent/README.md.
#ifndef EGRESS_AGENT_NFLOG_REJECT_SOURCE_H_
#define EGRESS_AGENT_NFLOG_REJECT_SOURCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/clock.h"
#include "agent/event_source.h"

struct nflog_handle;
struct nflog_g_handle;
struct nflog_data;
struct nfgenmsg;

namespace egress::agent {

struct NflogSourceOptions {
  uint16_t group = 7;
  int rcvbuf_bytes = 4 << 20;
  int max_rcvbuf_bytes = 32 << 20;
};

class NflogRejectSource : public EventSource {
 public:
  // Binds the group (Unavailable/Internal if another process holds it or the
  // kernel lacks nfnetlink_log; PermissionDenied without CAP_NET_ADMIN).
  static absl::StatusOr<std::unique_ptr<NflogRejectSource>> Create(
      const NflogSourceOptions& options, const Clock* clock);
  ~NflogRejectSource() override;

  int fd() const override;
  absl::StatusOr<size_t> ReadAvailable(size_t max_events, const EventSink& sink) override;
  uint64_t TakeLostEvents() override;
  EventSourceStats stats() const override { return stats_; }

 private:
  NflogRejectSource(nflog_handle* handle, const NflogSourceOptions& options, const Clock* clock);
  static int OnPacket(nflog_g_handle* gh, ::nfgenmsg* msg, nflog_data* data, void* self);

  nflog_handle* handle_;
  nflog_g_handle* group_ = nullptr;
  NflogSourceOptions options_;
  const Clock* clock_;
  EventSourceStats stats_;
  uint64_t lost_pending_ = 0;
  bool in_overrun_burst_ = false;
  std::optional<uint32_t> last_seq_;
  std::vector<char> buffer_;
  const EventSink* sink_ = nullptr;
  size_t delivered_ = 0;
};

// Parses an IPv4 or IPv6 packet's destination, protocol and destination port
// (pure; exposed for tests). False if the headers are cut short or the
// protocol is none of tcp, udp, icmp, icmpv6.
bool ParsePacketHeaders(absl::Span<const uint8_t> packet, IpAddress* dst, Protocol* protocol,
                        uint16_t* dst_port);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NFLOG_REJECT_SOURCE_H_
