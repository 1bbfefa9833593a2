// One outgoing connection attempt seen on the node, as the event sources
// report it and the aggregator counts it.
#ifndef EGRESS_AGENT_CONNECTION_EVENT_H_
#define EGRESS_AGENT_CONNECTION_EVENT_H_

#include <cstdint>

#include "absl/time/time.h"
#include "common/ip_address.h"
#include "common/protocol.h"

namespace egress::agent {

enum class Action : uint8_t { kAccept = 1, kReject = 2 };

struct ConnectionEvent {
  // Owner of the socket that opened the connection.
  uint32_t uid = 0;
  IpAddress dst;
  // kTcp, kUdp, kIcmp or kIcmpV6 (never kAny).
  Protocol protocol = Protocol::kTcp;
  // 0 for protocols without ports.
  uint16_t dst_port = 0;
  Action action = Action::kAccept;
  // When the connection started (conntrack start timestamp when available,
  // else when the agent received the event).
  absl::Time time;
};

// The connection mark the agent's nftables table gives connections of
// accounts: the uid with this bit set, so that marks set by other software
// (which rarely use the top bit) are not taken for ours.
inline constexpr uint32_t kAccountMarkBit = 0x80000000u;
inline constexpr uint32_t AccountMark(uint32_t uid) { return uid | kAccountMarkBit; }
// The mark of new local connections of other users (root, system users):
// counted in the agent's stats, not recorded per account.
inline constexpr uint32_t kUnattributedMark = 0x40000000u;

}  // namespace egress::agent

#endif  // EGRESS_AGENT_CONNECTION_EVENT_H_
