// Page sizes and opaque page tokens shared by every List RPC.
//
// A token is base64url("<kind>\n<cursor>"): the kind names the RPC that issued
// it so a token from one list is refused by another, and the cursor is the
// last key of the page (keyset pagination: stable under inserts, no OFFSET).
// Tokens are not signed: every query is scoped to the caller's account, so a
// forged cursor can only skip through the caller's own rows.
#ifndef EGRESS_SERVICE_PAGING_H_
#define EGRESS_SERVICE_PAGING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace egress {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// 0 means kDefaultPageSize; 1..kMaxPageSize as given; anything else is
// INVALID_ARGUMENT naming `field`.
absl::StatusOr<int> ResolvePageSize(int64_t page_size, absl::string_view field);

std::string EncodePageToken(absl::string_view kind, absl::string_view cursor);

// The cursor of a token issued for `kind`; "" for an empty token (first
// page). INVALID_ARGUMENT naming `field` for anything else.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view kind,
                                            absl::string_view field);

}  // namespace egress

#endif  // EGRESS_SERVICE_PAGING_H_
