#include "common/protocol.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/field_status.h"

namespace egress {
namespace {

constexpr Protocol kAllProtocols[] = {Protocol::kTcp, Protocol::kUdp, Protocol::kIcmp,
                                      Protocol::kIcmpV6, Protocol::kAny};

}  // namespace

absl::StatusOr<Protocol> ParseProtocol(absl::string_view text) {
  for (Protocol protocol : kAllProtocols) {
    if (absl::EqualsIgnoreCase(text, ProtocolName(protocol))) return protocol;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(QuoteForMessage(text),
                   " is not a known protocol; expected one of tcp, udp, icmp, icmpv6, any"));
}

absl::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kAny:
      return "any";
    case Protocol::kIcmp:
      return "icmp";
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kIcmpV6:
      return "icmpv6";
  }
  // Reachable only through a cast from an unchecked number.
  return "unknown";
}

absl::StatusOr<Protocol> ProtocolFromNumber(int number) {
  for (Protocol protocol : kAllProtocols) {
    if (static_cast<int>(protocol) == number) return protocol;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "protocol number ", number, " is not supported; expected 0 (any), 1, 6, 17 or 58"));
}

bool ProtocolHasPorts(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp:
    case Protocol::kUdp:
    case Protocol::kAny:
      return true;
    case Protocol::kIcmp:
    case Protocol::kIcmpV6:
      return false;
  }
  return false;
}

}  // namespace egress
