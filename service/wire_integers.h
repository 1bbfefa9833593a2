// Every uint64 a peer sends ends up in a PostgreSQL bigint (or is compared
// with one), so values above 2^63 - 1 are refused where they enter, with
// INVALID_ARGUMENT naming the field (common/field_status.h:
// ValidateWireInteger), instead of failing deep in storage.
#ifndef EGRESS_SERVICE_WIRE_INTEGERS_H_
#define EGRESS_SERVICE_WIRE_INTEGERS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace egress {

// Checks every uint64 field of `message` and of the messages it holds
// (repeated ones included), depth-first in field order; the first one out
// of range is named "<prefix>.<field>[<index>]...". For small messages
// (Hello, AgentStats, RulesApplied, LossReport): it uses reflection.
absl::Status ValidateWireIntegers(const google::protobuf::Message& message,
                                  absl::string_view prefix);

}  // namespace egress

#endif  // EGRESS_SERVICE_WIRE_INTEGERS_H_
