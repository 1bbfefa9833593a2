#include "common/field_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace egress {

absl::Status AnnotateField(absl::string_view field, const absl::Status& status) {
  if (status.ok()) return status;
  absl::Status annotated(status.code(), absl::StrCat(field, ": ", status.message()));
  // Payloads carry machine-readable details (e.g. for the RPC edge); keep them.
  status.ForEachPayload([&annotated](absl::string_view type_url, const absl::Cord& payload) {
    annotated.SetPayload(type_url, payload);
  });
  return annotated;
}

absl::Status InvalidField(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::Status ValidateWireInteger(uint64_t value, absl::string_view field) {
  if (value <= kMaxWireInteger) return absl::OkStatus();
  return InvalidField(field,
                      absl::StrCat(value, " is out of range (at most ", kMaxWireInteger, ")"));
}

std::string QuoteForMessage(absl::string_view user_text) {
  const bool truncated = user_text.size() > kMaxQuotedInputBytes;
  // Truncating may split a UTF-8 sequence; CHexEscape turns the stray bytes
  // into \x escapes, so the result is always printable ASCII.
  return absl::StrCat("\"", absl::CHexEscape(user_text.substr(0, kMaxQuotedInputBytes)), "\"",
                      truncated ? "..." : "");
}

}  // namespace egress
