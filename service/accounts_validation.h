// Checks AccountsService requests and turns them into store specs. Pure
// functions: every error is INVALID_ARGUMENT naming the offending field
// ("node.exempt_networks[2]: ..."), so the store never sees bad input.
#ifndef EGRESS_SERVICE_ACCOUNTS_VALIDATION_H_
#define EGRESS_SERVICE_ACCOUNTS_VALIDATION_H_

#include "absl/status/statusor.h"
#include "egress/v1/accounts.pb.h"
#include "service/storage/accounts_store.h"

namespace egress {

inline constexpr int kMaxExemptNetworks = 256;
inline constexpr int kMaxDedicatedIps = 64;

// Output-only fields (times, versions, counts) are ignored.
absl::StatusOr<NodeSpec> NodeSpecFromProto(const egress::v1::Node& node);
absl::StatusOr<AccountSpec> AccountSpecFromProto(const egress::v1::Account& account);

// An identifier field (node_id, account_id): INVALID_ARGUMENT naming `field`.
absl::Status ValidateIdField(absl::string_view value, absl::string_view field);

void NodeToProto(const NodeRecord& record, egress::v1::Node* node);
void AccountToProto(const AccountRecord& record, egress::v1::Account* account);

}  // namespace egress

#endif  // EGRESS_SERVICE_ACCOUNTS_VALIDATION_H_
