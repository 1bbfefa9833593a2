// What happened to a connection attempt: the kernel let it out (ACCEPT) or
// an egress rule refused it (REJECT).
//
// All functions are pure and thread-safe.
#ifndef EGRESS_COMMON_ACTION_H_
#define EGRESS_COMMON_ACTION_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace egress {

// Values are what the database stores (connection_daily.action).
enum class Action : uint8_t { kAccept = 1, kReject = 2 };

// "ACCEPT" or "REJECT", as the panel shows them; "unknown" out of range.
absl::string_view ActionName(Action action);

// 1 or 2; nullopt for any other number.
std::optional<Action> ActionFromNumber(int number);

}  // namespace egress

#endif  // EGRESS_COMMON_ACTION_H_
