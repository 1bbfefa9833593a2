#include "service/paging.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/field_status.h"

namespace egress {
namespace {

// Far above any cursor we issue; bounds the work done on hostile tokens.
constexpr size_t kMaxTokenBytes = 1024;

}  // namespace

absl::StatusOr<int> ResolvePageSize(int64_t page_size, absl::string_view field) {
  if (page_size == 0) return kDefaultPageSize;
  if (page_size < 0 || page_size > kMaxPageSize) {
    return InvalidField(field,
                        absl::StrCat("must be 1..", kMaxPageSize, " (or 0 for the default of ",
                                     kDefaultPageSize, "), got ", page_size));
  }
  return static_cast<int>(page_size);
}

std::string EncodePageToken(absl::string_view kind, absl::string_view cursor) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, "\n", cursor));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view kind,
                                            absl::string_view field) {
  if (token.empty()) return std::string();
  std::string decoded;
  if (token.size() > kMaxTokenBytes || !absl::WebSafeBase64Unescape(token, &decoded) ||
      !absl::StartsWith(decoded, absl::StrCat(kind, "\n"))) {
    return InvalidField(field, "is not a page token from a previous response of this call");
  }
  return decoded.substr(kind.size() + 1);
}

}  // namespace egress
