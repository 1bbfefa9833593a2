#include "service/rpc_edge.h"

#include "common/grpc_status.h"
#include "common/log.h"

namespace egress {

grpc::Status FinishRpc(absl::string_view method, const absl::Status& status) {
  if (!status.ok() && (status.code() == absl::StatusCode::kInternal ||
                       status.code() == absl::StatusCode::kUnavailable ||
                       status.code() == absl::StatusCode::kDeadlineExceeded)) {
    LogError("rpc_failed", {{"method", method},
                            {"code", absl::StatusCodeToString(status.code())},
                            {"message", status.message()}});
  }
  return ToGrpcStatus(status);
}

}  // namespace egress
