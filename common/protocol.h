// IP protocols that rules and records can name.
//
// All functions are pure and thread-safe.
#ifndef EGRESS_COMMON_PROTOCOL_H_
#define EGRESS_COMMON_PROTOCOL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace egress {

// Values are IANA protocol numbers, so they can be stored and sent as such.
// kAny (0) is not a protocol on the wire: in a rule it means "any protocol".
enum class Protocol : uint8_t { kAny = 0, kIcmp = 1, kTcp = 6, kUdp = 17, kIcmpV6 = 58 };

// Accepts exactly "tcp", "udp", "icmp", "icmpv6" and "any", in any letter
// case. Anything else (including "", " tcp", "6", "TCP/IP") is
// InvalidArgument naming the accepted values.
absl::StatusOr<Protocol> ParseProtocol(absl::string_view text);

// Lower-case name: "tcp", "udp", "icmp", "icmpv6", "any". ParseProtocol
// accepts every name returned. An out-of-range enum value gives "unknown".
absl::string_view ProtocolName(Protocol protocol);

// Maps an IANA number to one of the five values above; any other number
// (e.g. 132, SCTP) is InvalidArgument.
absl::StatusOr<Protocol> ProtocolFromNumber(int number);

// Whether a rule with this protocol may carry a port: true for tcp and udp,
// and for any (a port with "any" means tcp and udp on that port); false for
// icmp and icmpv6.
bool ProtocolHasPorts(Protocol protocol);

}  // namespace egress

#endif  // EGRESS_COMMON_PROTOCOL_H_
