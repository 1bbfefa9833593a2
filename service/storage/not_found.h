// The NOT_FOUND statuses the stores return for a missing account or node,
// worded the same everywhere.
#ifndef EGRESS_SERVICE_STORAGE_NOT_FOUND_H_
#define EGRESS_SERVICE_STORAGE_NOT_FOUND_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace egress {

inline absl::Status AccountNotFound(const std::string& account_id) {
  return absl::NotFoundError(absl::StrCat("account \"", account_id, "\" does not exist"));
}

inline absl::Status NodeNotFound(const std::string& node_id) {
  return absl::NotFoundError(absl::StrCat("node \"", node_id, "\" does not exist"));
}

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_NOT_FOUND_H_
