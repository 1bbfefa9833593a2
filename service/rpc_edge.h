// The last line of every RPC handler (and of every agent stream):
// absl::Status → grpc::Status, fit for any caller.
//
// The caller's mistakes (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...)
// keep their code and message: those messages are written for callers and
// name the field. The service's own failures (common/private_detail.h:
// IsServiceFailure) are logged once with the method, the code, the message
// and the private detail (SQL state, libpq text), under a fresh request id;
// the caller gets:
//   UNAVAILABLE / DEADLINE_EXCEEDED / ABORTED: the short message the layer
//     below wrote for callers ("the database is unavailable; try again
//     later") and "(request id r-...)";
//   INTERNAL / UNKNOWN / DATA_LOSS (bugs): INTERNAL "internal error (request
//     id r-...)" and nothing of the cause, whatever the message said.
// So no status ever carries SQL, library text, a path or a process id.
#ifndef EGRESS_SERVICE_RPC_EDGE_H_
#define EGRESS_SERVICE_RPC_EDGE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace egress {

grpc::Status FinishRpc(absl::string_view method, const absl::Status& status);

// The status FinishRpc would send, as an absl::Status (logging the same).
absl::Status PublicStatus(absl::string_view method, const absl::Status& status);

}  // namespace egress

#endif  // EGRESS_SERVICE_RPC_EDGE_H_
