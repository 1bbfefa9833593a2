// Conversion between absl::Status and grpc::Status, for the RPC edge only
// (inside the service everything is absl::Status).
//
// Pure and thread-safe.
#ifndef EGRESS_COMMON_GRPC_STATUS_H_
#define EGRESS_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace egress {

// Same numeric code (the canonical codes 0..16 coincide) and message. Codes
// outside 0..16 become UNKNOWN. Payloads are not carried.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same numeric code and message (codes outside 0..16 become kUnknown); the
// binary error details are dropped.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace egress

#endif  // EGRESS_COMMON_GRPC_STATUS_H_
