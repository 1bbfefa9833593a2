#include "service/rpc_edge.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/private_detail.h"

namespace egress {
namespace {

bool IsBug(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
}

}  // namespace

absl::Status PublicStatus(absl::string_view method, const absl::Status& status) {
  if (status.ok() || !IsServiceFailure(status.code())) {
    // Written for the caller; a payload (never expected here) is dropped.
    return status.ok() ? status : absl::Status(status.code(), status.message());
  }
  const std::string request_id = NewRequestId();
  const std::optional<std::string> detail = PrivateDetail(status);
  LogError("rpc_failed", {{"method", method},
                          {"request_id", request_id},
                          {"code", absl::StatusCodeToString(status.code())},
                          {"message", status.message()},
                          {"detail", detail.value_or("-")}});
  if (IsBug(status.code())) {
    return absl::InternalError(absl::StrCat("internal error (request id ", request_id, ")"));
  }
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), " (request id ", request_id, ")"));
}

grpc::Status FinishRpc(absl::string_view method, const absl::Status& status) {
  return ToGrpcStatus(PublicStatus(method, status));
}

}  // namespace egress
