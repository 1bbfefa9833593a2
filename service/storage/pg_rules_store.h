// RulesStore on PostgreSQL (block_rules, account_locks, antivirus_scans,
// audit_log), with the rule-version bookkeeping of rule_changes.h.
#ifndef EGRESS_SERVICE_STORAGE_PG_RULES_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_RULES_STORE_H_

#include "service/storage/database.h"
#include "service/storage/rules_store.h"

namespace egress {

class PgRulesStore : public RulesStore {
 public:
  // `database` must outlive the store.
  explicit PgRulesStore(Database* database) : database_(*database) {}

  absl::StatusOr<BlockRulePage> ListBlockRules(const std::string& account_id,
                                               std::optional<uint64_t> before_rule_id,
                                               int limit) override;
  absl::StatusOr<BlockRuleRecord> CreateBlockRule(const std::string& account_id,
                                                  const BlockRuleSpec& spec,
                                                  const Actor& actor) override;
  absl::StatusOr<BlockRuleRecord> UpdateNote(const std::string& account_id, uint64_t rule_id,
                                             const std::string& note, const Actor& actor) override;
  absl::StatusOr<DeleteResult> DeleteBlockRules(const std::string& account_id,
                                                const std::vector<uint64_t>& rule_ids,
                                                const Actor& actor) override;
  absl::StatusOr<AccountStatusRecord> SetManualLock(const std::string& account_id, bool enabled,
                                                    const Actor& actor) override;
  absl::StatusOr<AccountStatusRecord> GetAccountStatus(const std::string& account_id) override;
  absl::StatusOr<AccountStatusRecord> SetAbuseLock(const std::string& account_id,
                                                   const AbuseLockWrite& lock,
                                                   const Actor& actor) override;
  absl::StatusOr<AccountStatusRecord> LiftAbuseLock(const std::string& account_id,
                                                    const std::string& note,
                                                    const Actor& actor) override;
  absl::StatusOr<int> LiftExpiredAbuseLocks(absl::Time now) override;
  absl::StatusOr<int> DeleteExpiredBlockRules(absl::Time now) override;
  absl::StatusOr<ScanOutcome> ReportScan(const std::string& account_id, const ScanReport& report,
                                         const Actor& actor) override;
  absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(
      const std::string& account_id, std::optional<uint64_t> before_event_id, int limit,
      bool earlier_accounts) override;

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_RULES_STORE_H_
