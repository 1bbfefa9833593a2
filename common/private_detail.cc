#include "common/private_detail.h"

#include <random>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace egress {
namespace {

constexpr char kDetailUrl[] = "type.egress.dev/private-detail";

}  // namespace

absl::Status WithPrivateDetail(absl::Status status, absl::string_view detail) {
  if (status.ok()) return status;
  status.SetPayload(kDetailUrl, absl::Cord(detail));
  return status;
}

std::optional<std::string> PrivateDetail(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kDetailUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

bool IsServiceFailure(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

std::string NewRequestId() {
  static absl::Mutex mutex(absl::kConstInit);
  static std::mt19937_64* engine = nullptr;
  uint64_t value;
  {
    absl::MutexLock lock(&mutex);
    if (engine == nullptr) engine = new std::mt19937_64(std::random_device{}());
    value = (*engine)();
  }
  return absl::StrFormat("r-%016x", value);
}

}  // namespace egress
