#include "common/action.h"

namespace egress {

absl::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAccept:
      return "ACCEPT";
    case Action::kReject:
      return "REJECT";
  }
  return "unknown";
}

std::optional<Action> ActionFromNumber(int number) {
  switch (number) {
    case 1:
      return Action::kAccept;
    case 2:
      return Action::kReject;
    default:
      return std::nullopt;
  }
}

}  // namespace egress
