// Statuses fit for any caller. A failure of the service's own (the database
// is down, a statement failed) has two audiences: the caller, who may see a
// short message and nothing of the machinery (no SQL, no libpq text, no path,
// no process id), and ops, who need the cause. The layer that knows the cause
// (storage) returns the short message as the status and attaches the cause as
// a payload; the RPC edge (service/rpc_edge.h) logs the payload under a
// request id, strips it and names the request id in the message.
//
// Pure and thread-safe.
#ifndef EGRESS_COMMON_PRIVATE_DETAIL_H_
#define EGRESS_COMMON_PRIVATE_DETAIL_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace egress {

// `status` (its code and caller-facing message) carrying `detail` for the log.
absl::Status WithPrivateDetail(absl::Status status, absl::string_view detail);

// The detail attached by WithPrivateDetail, if any.
std::optional<std::string> PrivateDetail(const absl::Status& status);

// Codes that say the failure is the service's own rather than the caller's
// mistake: INTERNAL, UNKNOWN, DATA_LOSS (bugs), UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED (environment, retryable).
bool IsServiceFailure(absl::StatusCode code);

// A fresh id for one failed request ("r-" and 16 hex digits), to find its
// log line.
std::string NewRequestId();

}  // namespace egress

#endif  // EGRESS_COMMON_PRIVATE_DETAIL_H_
