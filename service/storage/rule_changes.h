// Bookkeeping shared by every store that changes what a node enforces.
// Call inside the transaction that makes the change, so the version bump,
// the announcement and the audit row commit (or roll back) with it.
#ifndef EGRESS_SERVICE_STORAGE_RULE_CHANGES_H_
#define EGRESS_SERVICE_STORAGE_RULE_CHANGES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "pqxx/pqxx"

namespace egress {

// NOTIFY channel carrying the ids of nodes whose rule set changed; every
// replica LISTENs and pushes the new RuleSet to the agents it holds.
inline constexpr char kRulesChangedChannel[] = "egress_rules_changed";

// Bumps the node's rule version, records it as the account's latest change
// (when `account_id` is given) and announces the node on
// kRulesChangedChannel (delivered at commit). Returns the new version.
uint64_t RecordRuleChange(pqxx::work& txn, const std::string& node_id,
                          const std::string* account_id);

// Appends to the account's audit log. `before_json` / `after_json` are JSON
// texts (nullopt: none).
void InsertAuditEvent(pqxx::work& txn, const std::string& account_id, const std::string& actor,
                      const std::string& action, const std::optional<std::string>& before_json,
                      const std::optional<std::string>& after_json);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_RULE_CHANGES_H_
