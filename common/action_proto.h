// Action (common/action.h) <-> egress.v1.Action: the one mapping, for the
// agent, the service and egressctl. Header-only so that only users of the
// generated protos see it.
#ifndef EGRESS_COMMON_ACTION_PROTO_H_
#define EGRESS_COMMON_ACTION_PROTO_H_

#include <optional>

#include "common/action.h"
#include "egress/v1/types.pb.h"

namespace egress {

inline egress::v1::Action ActionToProto(Action action) {
  return action == Action::kAccept ? egress::v1::ACTION_ACCEPT : egress::v1::ACTION_REJECT;
}

// nullopt for ACTION_UNSPECIFIED and values this build does not know.
inline std::optional<Action> ActionFromProto(egress::v1::Action action) {
  switch (action) {
    case egress::v1::ACTION_ACCEPT:
      return Action::kAccept;
    case egress::v1::ACTION_REJECT:
      return Action::kReject;
    default:
      return std::nullopt;
  }
}

}  // namespace egress

#endif  // EGRESS_COMMON_ACTION_PROTO_H_
