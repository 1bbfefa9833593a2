// Bounds of a text-prefix filter ("203.0.1", "2001:db8:") as one address
// range, so a database can scan a key range instead of formatting every
// address of a day to compare its text.
//
// The range is a hull: every address whose canonical text (lower-case,
// zero-compressed IPv6, dotted-quad IPv4) starts with the prefix lies inside
// it, but not every address inside it matches ("10.0.1" → 10.0.1.0 to
// 10.0.199.255 also holds 10.0.2.7), so the caller still compares the text.
// Addresses order IPv4 before IPv6, as IpAddress and PostgreSQL's inet do.
#ifndef EGRESS_COMMON_IP_TEXT_PREFIX_H_
#define EGRESS_COMMON_IP_TEXT_PREFIX_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/ip_address.h"

namespace egress {

struct IpRange {
  IpAddress first;
  IpAddress last;
};

// The hull of the addresses whose canonical text starts with `prefix`, or
// nullopt when it is not worth bounding (an empty prefix, one starting with
// "::" or holding "::" before its first group ends) or no address can match
// ("300.", "1.2.3.4.5"; the caller's text comparison then finds nothing).
std::optional<IpRange> TextPrefixHull(absl::string_view prefix);

// Exactly the IPv4 addresses whose dotted-quad text starts with `prefix`, as
// at most three disjoint ranges in ascending order ("10.0.1" → 10.0.1.0/24,
// 10.0.10.0–10.0.19.255, 10.0.100.0–10.0.199.255), so a database compares
// addresses, not their text. Only for a prefix of digits and dots holding a
// dot, which no IPv6 text starts with; nullopt for any other prefix. Empty
// when no address can match ("300.", "01.").
std::optional<std::vector<IpRange>> TextPrefixV4Ranges(absl::string_view prefix);

}  // namespace egress

#endif  // EGRESS_COMMON_IP_TEXT_PREFIX_H_
