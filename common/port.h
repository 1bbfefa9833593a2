// Transport-layer port numbers.
//
// All functions are pure and thread-safe.
#ifndef EGRESS_COMMON_PORT_H_
#define EGRESS_COMMON_PORT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace egress {

inline constexpr int64_t kMinPort = 1;
inline constexpr int64_t kMaxPort = 65535;

// Accepts decimal 1..65535 written strictly: digits only (no sign, spaces or
// hex) and no leading zeros. Anything else is InvalidArgument quoting the
// input.
absl::StatusOr<uint16_t> ParsePort(absl::string_view text);

// OK for 1..65535; otherwise InvalidArgument stating the range and `port`.
absl::Status ValidatePort(int64_t port);

// Like ValidatePort, but 0 (meaning "any port") is also OK.
absl::Status ValidatePortOrAny(int64_t port);

}  // namespace egress

#endif  // EGRESS_COMMON_PORT_H_
