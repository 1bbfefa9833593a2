// LockKind (lock_policy.h) <-> egress.v1.LockKind: the one mapping.
#ifndef EGRESS_SERVICE_DOMAIN_LOCK_PROTO_H_
#define EGRESS_SERVICE_DOMAIN_LOCK_PROTO_H_

#include <optional>

#include "egress/v1/types.pb.h"
#include "service/domain/lock_policy.h"

namespace egress {

inline egress::v1::LockKind LockKindToProto(LockKind kind) {
  switch (kind) {
    case LockKind::kManual:
      return egress::v1::LOCK_KIND_MANUAL;
    case LockKind::kAntivirus:
      return egress::v1::LOCK_KIND_ANTIVIRUS;
    case LockKind::kAbuse:
      return egress::v1::LOCK_KIND_ABUSE;
  }
  return egress::v1::LOCK_KIND_UNSPECIFIED;
}

inline std::optional<LockKind> LockKindFromProto(egress::v1::LockKind kind) {
  switch (kind) {
    case egress::v1::LOCK_KIND_MANUAL:
      return LockKind::kManual;
    case egress::v1::LOCK_KIND_ANTIVIRUS:
      return LockKind::kAntivirus;
    case egress::v1::LOCK_KIND_ABUSE:
      return LockKind::kAbuse;
    default:
      return std::nullopt;
  }
}

}  // namespace egress

#endif  // EGRESS_SERVICE_DOMAIN_LOCK_PROTO_H_
