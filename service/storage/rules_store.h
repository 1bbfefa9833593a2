// An account's block rules, locks, antivirus scans, enforcement status and
// audit log: the store interface the ConnectionsService and the
// AntivirusService are written against. Implemented on PostgreSQL by
// PgRulesStore.
#ifndef EGRESS_SERVICE_STORAGE_RULES_STORE_H_
#define EGRESS_SERVICE_STORAGE_RULES_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ip_address.h"
#include "common/protocol.h"
#include "service/domain/lock_policy.h"
#include "service/storage/abuse_lock_sql.h"
#include "service/storage/accounts_store.h"
#include "service/storage/connections_store.h"

namespace egress {

// Rules per account at most (each becomes a kernel set element on the node).
inline constexpr int kMaxBlockRulesPerAccount = 10000;
// How far ahead a temporary rule may end: a year and a day, so that "the
// same date next year" picked in a calendar fits. Anything later is a
// mistake (a wrong year) more likely than a wish; "never" is no expiry.
inline constexpr absl::Duration kMaxBlockRuleLifetime = absl::Hours(24 * 366);
// Actor of the audit events of rules that ran out.
inline constexpr char kExpiryActor[] = "expiry";

// What to block (validated before it reaches the store).
struct BlockRuleSpec {
  IpNetwork network = IpNetwork::Host(IpAddress());
  // kAny, kTcp or kUdp. kAny with a port means TCP and UDP on that port.
  Protocol protocol = Protocol::kAny;
  // 1..65535, or 0 for every port.
  int port = 0;
  // Valid UTF-8 (ValidateNote), stored and returned byte for byte.
  std::string note;
  // When the rule ends by itself (nullopt: never). Validated to be in the
  // future and at most kMaxBlockRuleLifetime ahead before it reaches the
  // store; stored to the microsecond.
  std::optional<absl::Time> expires_at;
};

struct BlockRuleRecord {
  uint64_t rule_id = 0;
  BlockRuleSpec spec;
  // Of the network's first address.
  DestinationInfo ip_info;
  absl::Time created_at;
  std::string created_by;
  absl::Time updated_at;
};

struct BlockRulePage {
  // Newest first.
  std::vector<BlockRuleRecord> rules;
  uint64_t total_rules = 0;
};

struct AccountStatusRecord {
  std::string account_id;
  std::string node_id;
  // Ordered by kind (manual, antivirus, abuse).
  std::vector<LockRecord> locks;
  std::optional<IpAddress> egress_ipv4;
  std::optional<IpAddress> egress_ipv6;
  DestinationInfo egress_ipv4_info;
  DestinationInfo egress_ipv6_info;
  uint64_t rule_version = 0;
  uint64_t applied_rule_version = 0;
  std::optional<absl::Time> applied_at;
};

struct Threat {
  std::string path;
  std::string signature;
};

// A finished antivirus scan (validated before it reaches the store).
struct ScanReport {
  std::string scan_id;
  absl::Time finished_at;
  std::vector<Threat> threats;
};

struct ScanOutcome {
  // The scan finished before the newest one reported: it changed nothing.
  bool stale = false;
  AccountStatusRecord status;
};

struct AuditEventRecord {
  uint64_t event_id = 0;
  std::string account_id;
  absl::Time time;
  std::string actor;
  std::string action;
  // JSON text, "" when none.
  std::string before_json;
  std::string after_json;
};

// Thread-safe. Every method is one transaction keyed by the account: on
// error nothing is written. Every method fails with NOT_FOUND when the
// account does not exist; UNAVAILABLE / INTERNAL as in database.h.
//
// Every change to what the node enforces (a rule created or deleted, a lock
// set or lifted) takes the account row lock (so changes of one account are
// serialised), bumps the rule version (RecordRuleChange, which also
// announces the node on kRulesChangedChannel) and appends an audit event in
// the same transaction. A note change is audited but does not bump the
// version: notes are not part of the node's rule set. A call that changes
// nothing (a lock already on, an equal note, a repeated scan) writes nothing.
class RulesStore {
 public:
  virtual ~RulesStore() = default;

  // Rules with rule_id < before_rule_id (all when nullopt), newest first.
  virtual absl::StatusOr<BlockRulePage> ListBlockRules(const std::string& account_id,
                                                       std::optional<uint64_t> before_rule_id,
                                                       int limit) = 0;
  // ALREADY_EXISTS (message: "... already blocked by rule <id>") when the
  // account has a rule with the same network, protocol and port that lasts
  // at least as long as `spec` asks (no expiry outlasts every expiry). A
  // temporary rule that would end sooner is extended instead: its expiry
  // becomes spec.expires_at (nullopt: permanent), note unchanged, version
  // bumped, audited "block_rule.extend", and that rule is returned.
  // RESOURCE_EXHAUSTED beyond kMaxBlockRulesPerAccount.
  virtual absl::StatusOr<BlockRuleRecord> CreateBlockRule(const std::string& account_id,
                                                          const BlockRuleSpec& spec,
                                                          const Actor& actor) = 0;
  // NOT_FOUND naming the rule when the account has no such rule.
  virtual absl::StatusOr<BlockRuleRecord> UpdateNote(const std::string& account_id,
                                                     uint64_t rule_id, const std::string& note,
                                                     const Actor& actor) = 0;
  struct DeleteResult {
    uint32_t deleted = 0;
    uint64_t rule_version = 0;
  };
  // Deletes all of `rule_ids` (distinct) or none: NOT_FOUND naming the first
  // id (in the given order) that the account does not have, with the field
  // "rule_ids[i]".
  virtual absl::StatusOr<DeleteResult> DeleteBlockRules(const std::string& account_id,
                                                        const std::vector<uint64_t>& rule_ids,
                                                        const Actor& actor) = 0;

  // Sets or lifts the manual lock, as lock_policy decides for the actor's
  // role: lifting while an antivirus or abuse lock holds is
  // FAILED_PRECONDITION with the policy's text and changes nothing.
  virtual absl::StatusOr<AccountStatusRecord> SetManualLock(const std::string& account_id,
                                                            bool enabled, const Actor& actor) = 0;
  virtual absl::StatusOr<AccountStatusRecord> GetAccountStatus(const std::string& account_id) = 0;

  // Sets (or widens, see WriteAbuseLock in abuse_lock_sql.h) the abuse lock
  // as lock_policy::CheckSetAbuse decides for the actor's role.
  virtual absl::StatusOr<AccountStatusRecord> SetAbuseLock(const std::string& account_id,
                                                           const AbuseLockWrite& lock,
                                                           const Actor& actor) = 0;
  // Lifts the abuse lock as lock_policy::CheckLiftAbuse decides (support,
  // with a note); FAILED_PRECONDITION when none holds. Closes the account's
  // open abuse incidents.
  virtual absl::StatusOr<AccountStatusRecord> LiftAbuseLock(const std::string& account_id,
                                                            const std::string& note,
                                                            const Actor& actor) = 0;
  // Lifts every abuse lock whose expiry is at or before `now`, each in its
  // own transaction, audited as "lock.abuse.expire". Returns how many.
  virtual absl::StatusOr<int> LiftExpiredAbuseLocks(absl::Time now) = 0;
  // Deletes every block rule whose expiry is at or before `now`: one
  // transaction per account under its row lock (lock_order.md), which bumps
  // the account's rule version once and audits each rule as
  // "block_rule.expire" (actor kExpiryActor, before_json the rule). A rule
  // extended or deleted meanwhile is left alone. At most 1000 accounts per
  // call; returns how many rules were deleted.
  virtual absl::StatusOr<int> DeleteExpiredBlockRules(absl::Time now) = 0;

  // Records the scan (once per scan_id; a repeat with other results is
  // ALREADY_EXISTS). The scan that decides (lock_policy::ScanDecidesOver:
  // the newest; at equal finish times one with threats) sets the antivirus
  // lock (or moves it to itself) when it found threats and lifts it when
  // clean.
  virtual absl::StatusOr<ScanOutcome> ReportScan(const std::string& account_id,
                                                 const ScanReport& report, const Actor& actor) = 0;

  // Events with event_id < before_event_id (all when nullopt), newest first:
  // of the account that has this id now, or (`earlier_accounts`) also of
  // every deleted account that had it, in which case the account need not
  // exist (no NOT_FOUND).
  virtual absl::StatusOr<std::vector<AuditEventRecord>> ListAuditEvents(
      const std::string& account_id, std::optional<uint64_t> before_event_id, int limit,
      bool earlier_accounts) = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_RULES_STORE_H_
