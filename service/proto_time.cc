#include "service/proto_time.h"

#include "common/field_status.h"

namespace egress {
namespace {

// 10000-01-01T00:00:00Z.
constexpr int64_t kMaxSeconds = 253402300800;

}  // namespace

absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& timestamp,
                                         absl::string_view field) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) {
    return InvalidField(field, "is required");
  }
  if (timestamp.nanos() < 0 || timestamp.nanos() > 999'999'999) {
    return InvalidField(field, "nanos must be 0..999999999");
  }
  if (timestamp.seconds() < 0 || timestamp.seconds() >= kMaxSeconds) {
    return InvalidField(field, "must be between 1970-01-01 and 9999-12-31");
  }
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* timestamp) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    --seconds;
    rest += 1'000'000;
  }
  timestamp->set_seconds(seconds);
  timestamp->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace egress
