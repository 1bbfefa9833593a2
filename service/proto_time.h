// google.protobuf.Timestamp ⇄ absl::Time, with validation at the RPC edge.
#ifndef EGRESS_SERVICE_PROTO_TIME_H_
#define EGRESS_SERVICE_PROTO_TIME_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace egress {

// INVALID_ARGUMENT naming `field` unless the timestamp is set (not all zero),
// its nanos are 0..999999999 and it lies after 1970-01-01 and before
// 10000-01-01 (what PostgreSQL and the panel can show).
absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& timestamp,
                                         absl::string_view field);

void TimeToProto(absl::Time time, google::protobuf::Timestamp* timestamp);

}  // namespace egress

#endif  // EGRESS_SERVICE_PROTO_TIME_H_
