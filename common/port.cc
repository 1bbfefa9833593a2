#include "common/port.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/field_status.h"

namespace egress {

absl::StatusOr<uint16_t> ParsePort(absl::string_view text) {
  auto invalid = [text](absl::string_view reason) {
    return absl::InvalidArgumentError(
        absl::StrCat(QuoteForMessage(text), " is not a valid port: ", reason));
  };
  if (text.empty()) return invalid("the text is empty");
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    return invalid("only decimal digits are allowed");
  }
  if (text.size() > 1 && text[0] == '0') return invalid("leading zeros are not allowed");
  // More than 5 digits cannot be a port; checking first keeps the conversion
  // from overflowing on hostile input.
  int64_t value = 0;
  if (text.size() > 5 || !absl::SimpleAtoi(text, &value) || value < kMinPort || value > kMaxPort) {
    return invalid(absl::StrCat("must be in ", kMinPort, "..", kMaxPort));
  }
  return static_cast<uint16_t>(value);
}

absl::Status ValidatePort(int64_t port) {
  if (port >= kMinPort && port <= kMaxPort) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("port must be in ", kMinPort, "..", kMaxPort, ", got ", port));
}

absl::Status ValidatePortOrAny(int64_t port) {
  if (port == 0 || (port >= kMinPort && port <= kMaxPort)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("port must be 0 (any) or in ", kMinPort, "..", kMaxPort, ", got ", port));
}

}  // namespace egress
