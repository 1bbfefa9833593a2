// The last line of every RPC handler: absl::Status → grpc::Status.
#ifndef EGRESS_SERVICE_RPC_EDGE_H_
#define EGRESS_SERVICE_RPC_EDGE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace egress {

// Same code and message. Failures that are the service's own (INTERNAL,
// UNAVAILABLE, DEADLINE_EXCEEDED) are logged with the method; the caller's
// mistakes (INVALID_ARGUMENT, NOT_FOUND, ...) are not, to keep logs useful.
grpc::Status FinishRpc(absl::string_view method, const absl::Status& status);

}  // namespace egress

#endif  // EGRESS_SERVICE_RPC_EDGE_H_
