// Helpers for building InvalidArgument errors that name the offending field
// and quote user input safely.
//
// All functions are pure and thread-safe.
#ifndef EGRESS_COMMON_FIELD_STATUS_H_
#define EGRESS_COMMON_FIELD_STATUS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace egress {

// Returns `status` with the same code (and payloads) and its message prefixed
// by "<field>: ". An OK status is returned unchanged.
//   AnnotateField("rule.cidr", InvalidArgumentError("bad")) -> "rule.cidr: bad"
absl::Status AnnotateField(absl::string_view field, const absl::Status& status);

// InvalidArgumentError("<field>: <message>").
absl::Status InvalidField(absl::string_view field, absl::string_view message);

// The largest integer any uint64 field of the API may carry: PostgreSQL's
// bigint (2^63 - 1), where every such value is stored.
inline constexpr uint64_t kMaxWireInteger = 9223372036854775807ULL;

// OK when value <= kMaxWireInteger; otherwise InvalidArgumentError
// "<field>: <value> is out of range (at most 9223372036854775807)". The one
// check every uint64 field gets where it enters the service.
absl::Status ValidateWireInteger(uint64_t value, absl::string_view field);

// How many bytes of user input QuoteForMessage keeps.
inline constexpr size_t kMaxQuotedInputBytes = 64;

// Returns `user_text` as a double-quoted, C-escaped string (absl::CHexEscape:
// quotes, backslashes, control and non-ASCII bytes become escapes, so NUL bytes
// and newlines cannot break a log line or an error message). Only the first
// kMaxQuotedInputBytes bytes of input are kept; when more were given, "..." is
// appended after the closing quote:
//   QuoteForMessage("a\0b")          -> "\"a\\x00b\""
//   QuoteForMessage(10 KB of 'x')    -> "\"xxxx...64 x...\"..."
std::string QuoteForMessage(absl::string_view user_text);

}  // namespace egress

#endif  // EGRESS_COMMON_FIELD_STATUS_H_
