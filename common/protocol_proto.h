// Protocol (common/protocol.h) ↔ egress.v1.Protocol, for the agent, the
// service and egressctl alike. Header-only so that only users of the generated protos see it.
#ifndef EGRESS_COMMON_PROTOCOL_PROTO_H_
#define EGRESS_COMMON_PROTOCOL_PROTO_H_

#include <optional>

#include "common/protocol.h"
#include "egress/v1/types.pb.h"

namespace egress {

inline egress::v1::Protocol ProtocolToProto(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp:
      return egress::v1::PROTOCOL_TCP;
    case Protocol::kUdp:
      return egress::v1::PROTOCOL_UDP;
    case Protocol::kIcmp:
      return egress::v1::PROTOCOL_ICMP;
    case Protocol::kIcmpV6:
      return egress::v1::PROTOCOL_ICMPV6;
    case Protocol::kAny:
      return egress::v1::PROTOCOL_ANY;
  }
  return egress::v1::PROTOCOL_UNSPECIFIED;
}

// nullopt for PROTOCOL_UNSPECIFIED and values this build does not know.
inline std::optional<Protocol> ProtocolFromProto(egress::v1::Protocol protocol) {
  switch (protocol) {
    case egress::v1::PROTOCOL_TCP:
      return Protocol::kTcp;
    case egress::v1::PROTOCOL_UDP:
      return Protocol::kUdp;
    case egress::v1::PROTOCOL_ICMP:
      return Protocol::kIcmp;
    case egress::v1::PROTOCOL_ICMPV6:
      return Protocol::kIcmpV6;
    case egress::v1::PROTOCOL_ANY:
      return Protocol::kAny;
    default:
      return std::nullopt;
  }
}

}  // namespace egress

#endif  // EGRESS_COMMON_PROTOCOL_PROTO_H_
