#include "common/grpc_status.h"

#include <string>

namespace egress {
namespace {

// Both enums list the canonical codes with the same numbers; anything beyond
// the known range (a raw code smuggled in by a peer) is not trusted.
constexpr int kMaxCanonicalCode = 16;  // UNAUTHENTICATED

bool IsCanonical(int code) { return code >= 0 && code <= kMaxCanonicalCode; }

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = status.raw_code();
  return grpc::Status(
      IsCanonical(code) ? static_cast<grpc::StatusCode>(code) : grpc::StatusCode::UNKNOWN,
      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  return absl::Status(
      IsCanonical(code) ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown,
      status.error_message());
}

}  // namespace egress
