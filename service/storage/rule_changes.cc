#include "service/storage/rule_changes.h"

#include "service/storage/database.h"
#include "service/storage/not_found.h"
#include "service/storage/pg_values.h"
#include "service/storage/prepared.h"

namespace egress {
namespace {

constexpr char kBumpAccountVersion[] = R"sql(
UPDATE accounts SET rule_version = rule_version + 1, updated_at = now()
 WHERE account_id = $1 RETURNING rule_version)sql";
// The bump is an UPDATE of non-key columns, so it holds the row's NO KEY
// UPDATE lock until the end of the transaction.
constexpr char kBeginAccountRuleChange[] = R"sql(
UPDATE accounts SET rule_version = rule_version + 1, updated_at = now()
 WHERE account_id = $1 RETURNING node_id, rule_version, incarnation)sql";
constexpr char kInsertDeparture[] = R"sql(
INSERT INTO node_rule_departures (node_id, account_id, version) VALUES ($1, $2, $3))sql";
// The event belongs to the account's current incarnation (0006): call it
// while the account row exists (before deleting it).
constexpr char kInsertAudit[] = R"sql(
INSERT INTO audit_log (account_id, actor, action, before, after, incarnation)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb,
        (SELECT incarnation FROM accounts WHERE account_id = $1)))sql";

}  // namespace

uint64_t BumpAccountRuleVersion(pqxx::work& txn, const std::string& account_id,
                                const std::string& node_id) {
  const uint64_t version = ExecPrepared1(txn, kBumpAccountVersion, account_id)[0].as<uint64_t>();
  AnnounceRulesChanged(txn, node_id);
  return version;
}

absl::StatusOr<AccountRuleChange> BeginAccountRuleChange(pqxx::work& txn,
                                                         const std::string& account_id) {
  const pqxx::result row = ExecPrepared(txn, kBeginAccountRuleChange, account_id);
  if (row.empty()) return AccountNotFound(account_id);
  AccountRuleChange change;
  change.node_id = row[0][0].as<std::string>();
  change.version = row[0][1].as<uint64_t>();
  change.incarnation = row[0][2].as<int64_t>();
  AnnounceRulesChanged(txn, change.node_id);
  return change;
}

void RecordDeparture(pqxx::work& txn, const std::string& node_id, const std::string& account_id,
                     uint64_t last_version) {
  ExecPrepared(txn, kInsertDeparture, node_id, account_id, last_version + 1);
  AnnounceRulesChanged(txn, node_id);
}

void AnnounceRulesChanged(pqxx::transaction_base&, const std::string& node_id) {
  // After the commit, not in it (Database, "Notifications").
  Database::NotifyAfterCommit(kRulesChangedChannel, node_id);
}

void InsertAuditEvent(pqxx::work& txn, const std::string& account_id, const std::string& actor,
                      const std::string& action, const std::optional<std::string>& before_json,
                      const std::optional<std::string>& after_json) {
  ExecPrepared(txn, kInsertAudit, account_id, actor, action, NullableText(before_json),
               NullableText(after_json));
}

}  // namespace egress
