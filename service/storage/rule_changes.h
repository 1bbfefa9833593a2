// Bookkeeping shared by every store that changes what a node enforces. Call
// inside the transaction that makes the change, so the version bump and the
// audit row commit (or roll back) with it, and the announcement is sent only
// once it committed. Rows are locked in the order
// service/storage/lock_order.md gives.
#ifndef EGRESS_SERVICE_STORAGE_RULE_CHANGES_H_
#define EGRESS_SERVICE_STORAGE_RULE_CHANGES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "pqxx/pqxx"

namespace egress {

// NOTIFY channel carrying the ids of nodes whose rule set changed; every
// replica LISTENs and pushes the new RuleSet to the agents it holds.
inline constexpr char kRulesChangedChannel[] = "egress_rules_changed";

// Bumps the account's own rule version and announces its node on
// kRulesChangedChannel (sent once the transaction
// commits: Database::NotifyAfterCommit). The caller holds the
// account's row lock (so the account's versions are taken one at a time)
// and touches no other account's row or the node's row for update. Returns
// the new version.
uint64_t BumpAccountRuleVersion(pqxx::work& txn, const std::string& account_id,
                                const std::string& node_id);

// What BeginAccountRuleChange found and did.
struct AccountRuleChange {
  std::string node_id;
  // The account's new rule version.
  uint64_t version = 0;
  // The account's incarnation, for audit events (0006_account_incarnations.sql).
  int64_t incarnation = 0;
};

// The first statement of a change of the account's rules or locks, in one
// round trip: takes the account's row lock (lock order step 2, NO KEY
// UPDATE), bumps its rule version and announces its node (sent after the
// commit; a refusal later in the transaction rolls all of it back).
// NOT_FOUND when there is no such account.
absl::StatusOr<AccountRuleChange> BeginAccountRuleChange(pqxx::work& txn,
                                                         const std::string& account_id);

// The account leaves `node_id` (deleted, or moved to another node) after
// its `last_version`: records a departure worth last_version + 1, so the
// node's rule set version (a sum, see 0005_rule_versions_without_shared_rows.sql)
// still grows, and announces the node.
void RecordDeparture(pqxx::work& txn, const std::string& node_id, const std::string& account_id,
                     uint64_t last_version);

// Announces the node on kRulesChangedChannel (sent once the transaction
// commits: Database::NotifyAfterCommit).
void AnnounceRulesChanged(pqxx::transaction_base& txn, const std::string& node_id);

// Appends to the account's audit log, as an event of the account's current
// incarnation (so call it before deleting the account row). `before_json` /
// `after_json` are JSON texts (nullopt: none).
void InsertAuditEvent(pqxx::work& txn, const std::string& account_id, const std::string& actor,
                      const std::string& action, const std::optional<std::string>& before_json,
                      const std::optional<std::string>& after_json);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_RULE_CHANGES_H_
