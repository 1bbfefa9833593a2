#include "service/storage/rule_changes.h"

#include "service/storage/pg_values.h"
#include "service/storage/prepared.h"

namespace egress {
namespace {

// The announcement rides along (one round trip, not two).
constexpr char kBumpAccountVersion[] = R"sql(
UPDATE accounts SET rule_version = rule_version + 1, updated_at = now()
 WHERE account_id = $1 RETURNING rule_version, pg_notify($2, $3))sql";
constexpr char kInsertDeparture[] = R"sql(
INSERT INTO node_rule_departures (node_id, account_id, version) VALUES ($1, $2, $3))sql";
constexpr char kNotify[] = "SELECT pg_notify($1, $2)";
// The event belongs to the account's current incarnation (0006): call it
// while the account row exists (before deleting it).
constexpr char kInsertAudit[] = R"sql(
INSERT INTO audit_log (account_id, actor, action, before, after, incarnation)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb,
        (SELECT incarnation FROM accounts WHERE account_id = $1)))sql";

}  // namespace

uint64_t BumpAccountRuleVersion(pqxx::work& txn, const std::string& account_id,
                                const std::string& node_id) {
  // PostgreSQL folds identical notifications of one transaction into one.
  return ExecPrepared1(txn, kBumpAccountVersion, account_id, kRulesChangedChannel, node_id)[0]
      .as<uint64_t>();
}

void RecordDeparture(pqxx::work& txn, const std::string& node_id, const std::string& account_id,
                     uint64_t last_version) {
  ExecPrepared(txn, kInsertDeparture, node_id, account_id, last_version + 1);
  AnnounceRulesChanged(txn, node_id);
}

void AnnounceRulesChanged(pqxx::work& txn, const std::string& node_id) {
  // PostgreSQL folds identical notifications of one transaction into one.
  ExecPrepared(txn, kNotify, kRulesChangedChannel, node_id);
}

void InsertAuditEvent(pqxx::work& txn, const std::string& account_id, const std::string& actor,
                      const std::string& action, const std::optional<std::string>& before_json,
                      const std::optional<std::string>& after_json) {
  ExecPrepared(txn, kInsertAudit, account_id, actor, action, NullableText(before_json),
               NullableText(after_json));
}

}  // namespace egress
