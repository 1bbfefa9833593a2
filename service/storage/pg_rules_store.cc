#include "service/storage/pg_rules_store.h"

#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "service/storage/egress_address.h"
#include "service/storage/not_found.h"
#include "service/storage/pg_connections_store.h"
#include "service/storage/pg_values.h"
#include "service/storage/prepared.h"
#include "service/storage/rule_changes.h"

namespace egress {
namespace {

constexpr char kReadOnlySnapshot[] = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

constexpr char kAccountNode[] = "SELECT node_id FROM accounts WHERE account_id = $1";
// Every change of an account's rules and locks holds its row lock, so they
// apply one at a time (e.g. a manual unlock cannot interleave with an
// antivirus lock). NO KEY UPDATE: readers that only need the account to
// exist (foreign-key checks, the node's RulesApplied) are not held up.
constexpr char kLockAccount[] =
    "SELECT node_id FROM accounts WHERE account_id = $1 FOR NO KEY UPDATE";

// The rule as JSON for the audit log (`r` is a block_rules row). A new
// rule's is built by egress_create_block_rule (migration 0011) in the same
// shape: keep the two alike.
#define EGRESS_RULE_JSON                                                              \
  "jsonb_build_object('rule_id', r.rule_id, 'network', r.network::text, 'protocol', " \
  "CASE r.protocol WHEN 0 THEN 'any' WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' END, "      \
  "'port', r.port, 'note', r.note, 'expires_at', r.expires_at)::text"

constexpr char kSelectRulePrefix[] = R"sql(
SELECT r.rule_id, r.network::text, r.protocol, r.port, r.note,
       (extract(epoch FROM r.created_at) * 1000000)::int8, r.created_by,
       (extract(epoch FROM r.updated_at) * 1000000)::int8,
       (extract(epoch FROM r.expires_at) * 1000000)::int8,)sql";

// ip_info of the rule's first address.
constexpr char kSelectRuleFrom[] = R"sql(
  FROM block_rules r LEFT JOIN ip_info i ON i.ip = host(r.network)::inet)sql";

constexpr char kRuleById[] = " WHERE r.account_id = $1 AND r.rule_id = $2";
constexpr char kRulesPage[] = R"sql(
 WHERE r.account_id = $1 AND ($2::int8 IS NULL OR r.rule_id < $2::int8)
 ORDER BY r.rule_id DESC LIMIT $3)sql";

constexpr char kCountRules[] = "SELECT count(*) FROM block_rules WHERE account_id = $1";

// CreateBlockRule's one statement, a transaction of its own: the function
// (0011_create_block_rule_in_one_round_trip.sql) takes the account's row
// lock, checks for a rule already blocking the same destination and the
// account's rule count, and unless either refuses inserts the rule, bumps
// the version, audits and queues the lookup ($9: one address the node never
// reported). Returns no row for no such account, else the new rule as
// RuleSelect does (NULLs if none was inserted), then the existing rule's id
// and expiry, the account's rule count and its node. $7: the expiry in Unix
// microseconds, NULL for none; $8: the most rules allowed.
constexpr char kCreateRuleFrom[] = R"sql(,
       c.out_existing_rule_id, c.out_existing_expires_us, c.out_rules, c.out_node_id
  FROM egress_create_block_rule($1, $2::cidr, $3::int2, $4::int4, $5, $6, $7::int8, $8::int8,
                                $9::inet) c
  CROSS JOIN LATERAL (SELECT (c.out_rule).*) r
  LEFT JOIN ip_info i ON i.ip = host(r.network)::inet)sql";
// The columns of kCreateRule's row after the rule's nine and ip_info's eight.
constexpr int kCreateRuleExistingColumn = 17;
constexpr int kCreateRuleExpiryColumn = 18;
constexpr int kCreateRuleCountColumn = 19;
constexpr int kCreateRuleNodeColumn = 20;

constexpr char kRuleJsonForUpdate[] =
    "SELECT r.note, " EGRESS_RULE_JSON
    ", (extract(epoch FROM r.expires_at) * 1000000)::int8"
    " FROM block_rules r WHERE r.account_id = $1 AND r.rule_id = $2 FOR UPDATE";

constexpr char kExtendRule[] =
    "UPDATE block_rules AS r SET expires_at = 'epoch'::timestamptz + $3::int8 * interval '1 "
    "microsecond', updated_at = now() WHERE r.account_id = $1 AND r.rule_id = $2 "
    "RETURNING " EGRESS_RULE_JSON;

// Rules that ran out, of one account ($2: now in Unix microseconds). The
// caller holds the account's row lock, which every writer of these rows
// takes first (lock_order.md step 2), so no order among them is needed.
constexpr char kDeleteExpiredRules[] = R"sql(
DELETE FROM block_rules AS r
 WHERE r.account_id = $1
   AND r.expires_at <= 'epoch'::timestamptz + $2::int8 * interval '1 microsecond'
RETURNING r.rule_id, )sql" EGRESS_RULE_JSON;

constexpr char kUpdateNote[] =
    "UPDATE block_rules AS r SET note = $3, updated_at = now() "
    "WHERE r.account_id = $1 AND r.rule_id = $2 RETURNING " EGRESS_RULE_JSON;

constexpr char kExistingRuleIds[] =
    "SELECT rule_id FROM block_rules WHERE account_id = $1 AND rule_id = ANY($2::int8[])";

constexpr char kDeleteRules[] = R"sql(
WITH d AS (DELETE FROM block_rules AS r WHERE r.account_id = $1 AND r.rule_id = ANY($2::int8[])
           RETURNING r.rule_id, )sql" EGRESS_RULE_JSON R"sql( AS j)
SELECT count(*), coalesce(jsonb_agg(j::jsonb ORDER BY rule_id), '[]'::jsonb)::text FROM d)sql";

#undef EGRESS_RULE_JSON

// The lock as JSON for the audit log (`l` is an account_locks row).
#define EGRESS_LOCK_JSON                                                                 \
  "jsonb_build_object('kind', CASE l.kind WHEN 1 THEN 'manual' WHEN 2 THEN 'antivirus' " \
  "ELSE 'abuse' END, "                                                                   \
  "'reason', l.reason, 'since', l.since, 'set_by', l.set_by, 'scan_id', l.scan_id, "     \
  "'threat_count', l.threat_count)::text"

constexpr char kInsertManualLock[] = R"sql(
INSERT INTO account_locks AS l (account_id, kind, reason, set_by) VALUES ($1, 1, $2, $3)
ON CONFLICT (account_id, kind) DO NOTHING
RETURNING )sql" EGRESS_LOCK_JSON;

constexpr char kDeleteLock[] =
    "DELETE FROM account_locks AS l WHERE l.account_id = $1 AND l.kind = $2 "
    "RETURNING " EGRESS_LOCK_JSON;

constexpr char kSelectLock[] = "SELECT l.scan_id, " EGRESS_LOCK_JSON
                               " FROM account_locks l WHERE l.account_id = $1 AND l.kind = $2";

constexpr char kUpsertAntivirusLock[] = R"sql(
INSERT INTO account_locks AS l (account_id, kind, reason, since, set_by, scan_id, threat_count)
VALUES ($1, 2, $2, 'epoch'::timestamptz + $3::int8 * interval '1 microsecond', $4, $5, $6)
ON CONFLICT (account_id, kind) DO UPDATE
   SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, scan_id = EXCLUDED.scan_id,
       threat_count = EXCLUDED.threat_count
RETURNING )sql" EGRESS_LOCK_JSON;

#undef EGRESS_LOCK_JSON

// The account's version against what its node confirmed for it.
constexpr char kStatusAccount[] = R"sql(
SELECT a.node_id, a.rule_version, coalesce(p.version, 0),
       (extract(epoch FROM p.applied_at) * 1000000)::int8,
       host(n.server_ipv4), host(n.server_ipv6)
  FROM accounts a JOIN nodes n ON n.node_id = a.node_id
  LEFT JOIN account_rules_applied p ON p.account_id = a.account_id AND p.node_id = a.node_id
 WHERE a.account_id = $1)sql";

constexpr char kStatusDedicatedIps[] = R"sql(
SELECT host(ip), (extract(epoch FROM ordered_at) * 1000000)::int8
  FROM dedicated_ips WHERE account_id = $1)sql";

constexpr char kStatusLocks[] = R"sql(
SELECT kind, reason, (extract(epoch FROM since) * 1000000)::int8, set_by, scan_id, threat_count,
       array_to_string(ports, ' '), (extract(epoch FROM expires_at) * 1000000)::int8
  FROM account_locks WHERE account_id = $1 ORDER BY kind)sql";

// Abuse locks that ran out ($1: now in Unix microseconds).
constexpr char kExpiredAbuseLocks[] = R"sql(
SELECT account_id FROM account_locks
 WHERE kind = 3 AND expires_at <= 'epoch'::timestamptz + $1::int8 * interval '1 microsecond'
 ORDER BY account_id LIMIT 1000)sql";
constexpr char kStillExpired[] = R"sql(
SELECT 1 FROM account_locks
 WHERE account_id = $1 AND kind = 3
   AND expires_at <= 'epoch'::timestamptz + $2::int8 * interval '1 microsecond')sql";

// Accounts with rules that ran out ($1: now in Unix microseconds), through
// the partial index block_rules_expiring.
constexpr char kExpiredRuleAccounts[] = R"sql(
SELECT DISTINCT account_id FROM block_rules
 WHERE expires_at <= 'epoch'::timestamptz + $1::int8 * interval '1 microsecond'
 ORDER BY account_id LIMIT 1000)sql";

constexpr char kIpInfoOfPrefix[] = "SELECT host(i.ip),";
constexpr char kIpInfoOfFrom[] = " FROM ip_info i WHERE i.ip = ANY($1::inet[])";

constexpr char kExistingScan[] = R"sql(
SELECT (extract(epoch FROM finished_at) * 1000000)::int8, threat_count
  FROM antivirus_scans WHERE account_id = $1 AND scan_id = $2)sql";

constexpr char kInsertScan[] = R"sql(
INSERT INTO antivirus_scans (account_id, scan_id, finished_at, threat_count, threats)
SELECT $1, $2, 'epoch'::timestamptz + $3::int8 * interval '1 microsecond', $4,
       coalesce(jsonb_agg(jsonb_build_object('path', t.path, 'signature', t.signature)
                          ORDER BY t.n), '[]'::jsonb)
  FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS t (path, signature, n))sql";

// The scans that finished last (usually one; several at the same instant):
// lock_policy decides which of them decides the lock.
constexpr char kLatestScans[] = R"sql(
SELECT scan_id, (extract(epoch FROM finished_at) * 1000000)::int8, threat_count
  FROM antivirus_scans
 WHERE account_id = $1
   AND finished_at = (SELECT max(finished_at) FROM antivirus_scans WHERE account_id = $1))sql";

// $4: only the current account's events (false: every account's with the id).
constexpr char kAuditPage[] = R"sql(
SELECT event_id, account_id, (extract(epoch FROM at) * 1000000)::int8, actor, action,
       coalesce(before::text, ''), coalesce(after::text, '')
  FROM audit_log
 WHERE account_id = $1 AND ($2::int8 IS NULL OR event_id < $2::int8)
   AND (NOT $4 OR incarnation = (SELECT incarnation FROM accounts WHERE account_id = $1))
 ORDER BY event_id DESC LIMIT $3)sql";

constexpr int kManualKind = static_cast<int>(LockKind::kManual);
constexpr int kAntivirusKind = static_cast<int>(LockKind::kAntivirus);

std::optional<std::string> OptionalId(std::optional<uint64_t> id) {
  if (!id.has_value()) return std::nullopt;
  return std::to_string(*id);
}

absl::StatusOr<std::string> AccountNode(pqxx::work& txn, const std::string& account_id, bool lock) {
  pqxx::result row = ExecPrepared(txn, lock ? kLockAccount : kAccountNode, account_id);
  if (row.empty()) return AccountNotFound(account_id);
  return row[0][0].as<std::string>();
}

std::string RuleSelect(absl::string_view where) {
  return absl::StrCat(kSelectRulePrefix, kIpInfoColumns, kSelectRuleFrom, where);
}

const std::string* const kCreateRule =
    new std::string(absl::StrCat(kSelectRulePrefix, kIpInfoColumns, kCreateRuleFrom));

// Whether a request for `asked` (nullopt: never) would extend a rule that
// already blocks the destination until `existing_us` (NULL: never): a
// temporary rule that ends sooner is extended; it never outlasts the
// latest expiry asked for.
bool ExtendsExisting(const pqxx::field& existing_us, const std::optional<absl::Time>& asked) {
  return !existing_us.is_null() &&
         (!asked.has_value() || absl::ToUnixMicros(*asked) > existing_us.as<int64_t>());
}

absl::StatusOr<BlockRuleRecord> RuleFromRow(const pqxx::row& row) {
  BlockRuleRecord rule;
  rule.rule_id = row[0].as<uint64_t>();
  EGRESS_ASSIGN_OR_RETURN(rule.spec.network, NetworkFromPg(row[1].c_str()));
  absl::StatusOr<Protocol> protocol = ProtocolFromNumber(row[2].as<int>());
  if (!protocol.ok()) return absl::InternalError("bad protocol in block_rules");
  rule.spec.protocol = *protocol;
  rule.spec.port = row[3].as<int>();
  rule.spec.note = row[4].as<std::string>();
  rule.created_at = absl::FromUnixMicros(row[5].as<int64_t>());
  rule.created_by = row[6].as<std::string>();
  rule.updated_at = absl::FromUnixMicros(row[7].as<int64_t>());
  if (!row[8].is_null()) rule.spec.expires_at = absl::FromUnixMicros(row[8].as<int64_t>());
  EGRESS_ASSIGN_OR_RETURN(rule.ip_info, IpInfoFromRow(row, 9));
  return rule;
}

absl::StatusOr<BlockRuleRecord> LoadRule(pqxx::work& txn, const std::string& account_id,
                                         uint64_t rule_id) {
  static const std::string* const kSql = new std::string(RuleSelect(kRuleById));
  pqxx::result rows = ExecPrepared(txn, kSql->c_str(), account_id, rule_id);
  if (rows.empty()) return absl::InternalError("rule vanished inside its transaction");
  return RuleFromRow(rows[0]);
}

std::optional<std::string> OptionalMicros(const std::optional<absl::Time>& time) {
  if (!time.has_value()) return std::nullopt;
  return std::to_string(absl::ToUnixMicros(*time));
}

std::string DescribeDestination(const BlockRuleSpec& spec) {
  return absl::StrCat(spec.network.ToString(), " ", ProtocolName(spec.protocol),
                      spec.port == 0 ? " every port" : absl::StrCat(" port ", spec.port));
}

// The refusal of a rule for a destination another rule already blocks.
absl::Status AlreadyBlocked(const BlockRuleSpec& spec, uint64_t existing_id) {
  return absl::AlreadyExistsError(absl::StrCat("destination: ", DescribeDestination(spec),
                                               " is already blocked by rule ", existing_id));
}

absl::StatusOr<AccountStatusRecord> LoadStatus(pqxx::work& txn, const std::string& account_id) {
  pqxx::result account = ExecPrepared(txn, kStatusAccount, account_id);
  if (account.empty()) return AccountNotFound(account_id);
  AccountStatusRecord status;
  status.account_id = account_id;
  const pqxx::row& a = account[0];
  status.node_id = a[0].as<std::string>();
  status.rule_version = a[1].as<uint64_t>();
  status.applied_rule_version = a[2].as<uint64_t>();
  if (!a[3].is_null()) status.applied_at = absl::FromUnixMicros(a[3].as<int64_t>());
  std::optional<IpAddress> server_ipv4, server_ipv6;
  if (!a[4].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(server_ipv4, IpFromPg(a[4].c_str()));
  }
  if (!a[5].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(server_ipv6, IpFromPg(a[5].c_str()));
  }
  std::vector<DedicatedIp> dedicated;
  for (const pqxx::row& row : ExecPrepared(txn, kStatusDedicatedIps, account_id)) {
    EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpFromPg(row[0].c_str()));
    dedicated.push_back(DedicatedIp{ip, absl::FromUnixMicros(row[1].as<int64_t>())});
  }
  status.egress_ipv4 = EgressAddress(IpAddress::Family::kV4, dedicated, server_ipv4);
  status.egress_ipv6 = EgressAddress(IpAddress::Family::kV6, dedicated, server_ipv6);
  for (const pqxx::row& row : ExecPrepared(txn, kStatusLocks, account_id)) {
    LockRecord lock;
    const std::optional<LockKind> kind = LockKindFromNumber(row[0].as<int>());
    if (!kind.has_value()) return absl::InternalError("bad kind in account_locks");
    lock.kind = *kind;
    lock.reason = row[1].as<std::string>();
    lock.since = absl::FromUnixMicros(row[2].as<int64_t>());
    lock.set_by = row[3].as<std::string>();
    lock.scan_id = row[4].as<std::string>();
    lock.threat_count = row[5].as<uint32_t>();
    for (absl::string_view port : absl::StrSplit(row[6].c_str(), ' ', absl::SkipEmpty())) {
      int value = 0;
      if (!absl::SimpleAtoi(port, &value)) return absl::InternalError("bad port in account_locks");
      lock.ports.push_back(static_cast<uint16_t>(value));
    }
    if (!row[7].is_null()) lock.expires_at = absl::FromUnixMicros(row[7].as<int64_t>());
    status.locks.push_back(std::move(lock));
  }
  std::vector<std::string> egress;
  if (status.egress_ipv4) egress.push_back(status.egress_ipv4->ToString());
  if (status.egress_ipv6) egress.push_back(status.egress_ipv6->ToString());
  if (!egress.empty()) {
    for (const pqxx::row& row :
         txn.exec_params(absl::StrCat(kIpInfoOfPrefix, kIpInfoColumns, kIpInfoOfFrom),
                         PgArrayLiteral(egress))) {
      EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpFromPg(row[0].c_str()));
      EGRESS_ASSIGN_OR_RETURN(DestinationInfo info, IpInfoFromRow(row, 1));
      if (status.egress_ipv4 == ip) status.egress_ipv4_info = info;
      if (status.egress_ipv6 == ip) status.egress_ipv6_info = info;
    }
  }
  return status;
}

}  // namespace

absl::StatusOr<BlockRulePage> PgRulesStore::ListBlockRules(const std::string& account_id,
                                                           std::optional<uint64_t> before_rule_id,
                                                           int limit) {
  const std::optional<std::string> before = OptionalId(before_rule_id);
  BlockRulePage page;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec(kReadOnlySnapshot);
    if (absl::Status found = AccountNode(txn, account_id, /*lock=*/false).status(); !found.ok()) {
      return found;
    }
    page.total_rules = ExecPrepared1(txn, kCountRules, account_id)[0].as<uint64_t>();
    for (const pqxx::row& row :
         txn.exec_params(RuleSelect(kRulesPage), account_id, NullableText(before), limit)) {
      EGRESS_ASSIGN_OR_RETURN(BlockRuleRecord rule, RuleFromRow(row));
      page.rules.push_back(std::move(rule));
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<BlockRuleRecord> PgRulesStore::CreateBlockRule(const std::string& account_id,
                                                              const BlockRuleSpec& spec,
                                                              const Actor& actor) {
  const std::string network = spec.network.ToString();
  const int protocol = static_cast<int>(spec.protocol);
  const std::optional<std::string> lookup =
      spec.network.is_host() ? std::optional<std::string>(spec.network.address().ToString())
                             : std::nullopt;
  BlockRuleRecord rule;
  std::optional<uint64_t> to_extend;
  EGRESS_RETURN_IF_ERROR(
      database_.TransactInOneStatement([&](pqxx::transaction_base& txn) -> absl::Status {
        to_extend.reset();
        const pqxx::result created =
            ExecPrepared(txn, kCreateRule->c_str(), account_id, network, protocol, spec.port,
                         spec.note, actor.name, NullableText(OptionalMicros(spec.expires_at)),
                         kMaxBlockRulesPerAccount, NullableText(lookup));
        if (created.empty()) return AccountNotFound(account_id);
        const pqxx::row& row = created[0];
        if (!row[0].is_null()) {
          AnnounceRulesChanged(txn, row[kCreateRuleNodeColumn].as<std::string>());
          EGRESS_ASSIGN_OR_RETURN(rule, RuleFromRow(row));
          return absl::OkStatus();
        }
        // Refused: the function wrote nothing.
        if (row[kCreateRuleExistingColumn].is_null()) {
          const int64_t count = row[kCreateRuleCountColumn].as<int64_t>();
          if (count >= kMaxBlockRulesPerAccount) {
            return absl::ResourceExhaustedError(
                absl::StrCat("the account already has ", count, " block rules, the most allowed (",
                             kMaxBlockRulesPerAccount, "); delete some first"));
          }
          // Unreachable while the account row is locked; kept for safety.
          return absl::AbortedError("destination: a concurrent change created the same rule");
        }
        const uint64_t existing_id = row[kCreateRuleExistingColumn].as<uint64_t>();
        if (!ExtendsExisting(row[kCreateRuleExpiryColumn], spec.expires_at)) {
          return AlreadyBlocked(spec, existing_id);
        }
        to_extend = existing_id;
        return absl::OkStatus();
      }));
  if (!to_extend.has_value()) return rule;
  // A temporary rule for the destination ends before the one asked for:
  // extended in a transaction of its own (rare: a request repeated with a
  // longer expiry), checked again under the account's row lock.
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_RETURN_IF_ERROR(BeginAccountRuleChange(txn, account_id).status());
    pqxx::result before = ExecPrepared(txn, kRuleJsonForUpdate, account_id, *to_extend);
    if (before.empty()) {
      return absl::AbortedError("destination: a concurrent change deleted the rule; try again");
    }
    if (!ExtendsExisting(before[0][2], spec.expires_at)) return AlreadyBlocked(spec, *to_extend);
    pqxx::result after = ExecPrepared(txn, kExtendRule, account_id, *to_extend,
                                      NullableText(OptionalMicros(spec.expires_at)));
    InsertAuditEvent(txn, account_id, actor.name, "block_rule.extend",
                     before.at(0)[1].as<std::string>(), after.at(0)[0].as<std::string>());
    EGRESS_ASSIGN_OR_RETURN(rule, LoadRule(txn, account_id, *to_extend));
    return absl::OkStatus();
  }));
  return rule;
}

absl::StatusOr<BlockRuleRecord> PgRulesStore::UpdateNote(const std::string& account_id,
                                                         uint64_t rule_id, const std::string& note,
                                                         const Actor& actor) {
  BlockRuleRecord rule;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    if (absl::Status found = AccountNode(txn, account_id, /*lock=*/false).status(); !found.ok()) {
      return found;
    }
    pqxx::result current = ExecPrepared(txn, kRuleJsonForUpdate, account_id, rule_id);
    if (current.empty()) {
      return absl::NotFoundError(absl::StrCat("rule_id: rule ", rule_id,
                                              " does not exist in account \"", account_id, "\""));
    }
    if (current[0][0].as<std::string>() != note) {
      pqxx::result updated = ExecPrepared(txn, kUpdateNote, account_id, rule_id, note);
      InsertAuditEvent(txn, account_id, actor.name, "block_rule.note",
                       current[0][1].as<std::string>(), updated.at(0)[0].as<std::string>());
    }
    EGRESS_ASSIGN_OR_RETURN(rule, LoadRule(txn, account_id, rule_id));
    return absl::OkStatus();
  }));
  return rule;
}

absl::StatusOr<RulesStore::DeleteResult> PgRulesStore::DeleteBlockRules(
    const std::string& account_id, const std::vector<uint64_t>& rule_ids, const Actor& actor) {
  std::vector<std::string> ids;
  ids.reserve(rule_ids.size());
  for (uint64_t id : rule_ids) ids.push_back(std::to_string(id));
  const std::string ids_literal = PgArrayLiteral(ids);
  DeleteResult result;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(std::string node_id, AccountNode(txn, account_id, /*lock=*/true));
    std::set<uint64_t> existing;
    for (const pqxx::row& row : ExecPrepared(txn, kExistingRuleIds, account_id, ids_literal)) {
      existing.insert(row[0].as<uint64_t>());
    }
    for (size_t i = 0; i < rule_ids.size(); ++i) {
      if (existing.count(rule_ids[i]) == 0) {
        return absl::NotFoundError(absl::StrCat("rule_ids[", i, "]: rule ", rule_ids[i],
                                                " does not exist in account \"", account_id,
                                                "\"; nothing was deleted"));
      }
    }
    pqxx::row deleted = ExecPrepared1(txn, kDeleteRules, account_id, ids_literal);
    result.deleted = deleted[0].as<uint32_t>();
    result.rule_version = BumpAccountRuleVersion(txn, account_id, node_id);
    InsertAuditEvent(txn, account_id, actor.name, "block_rule.delete", deleted[1].as<std::string>(),
                     std::nullopt);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<AccountStatusRecord> PgRulesStore::SetManualLock(const std::string& account_id,
                                                                bool enabled, const Actor& actor) {
  AccountStatusRecord status;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(std::string node_id, AccountNode(txn, account_id, /*lock=*/true));
    if (enabled) {
      EGRESS_RETURN_IF_ERROR(lock_policy::CheckSetManual(actor.role));
      pqxx::result inserted = ExecPrepared(txn, kInsertManualLock, account_id,
                                           lock_policy::ManualReason(actor.name), actor.name);
      if (!inserted.empty()) {
        BumpAccountRuleVersion(txn, account_id, node_id);
        InsertAuditEvent(txn, account_id, actor.name, "lock.manual.set", std::nullopt,
                         inserted[0][0].as<std::string>());
      }
    } else {
      // The locks in force, under the account's row lock.
      EGRESS_ASSIGN_OR_RETURN(AccountStatusRecord current, LoadStatus(txn, account_id));
      EGRESS_RETURN_IF_ERROR(lock_policy::CheckLiftManual(actor.role, current.locks));
      pqxx::result deleted = ExecPrepared(txn, kDeleteLock, account_id, kManualKind);
      if (!deleted.empty()) {
        BumpAccountRuleVersion(txn, account_id, node_id);
        InsertAuditEvent(txn, account_id, actor.name, "lock.manual.clear",
                         deleted[0][0].as<std::string>(), std::nullopt);
      }
    }
    EGRESS_ASSIGN_OR_RETURN(status, LoadStatus(txn, account_id));
    return absl::OkStatus();
  }));
  return status;
}

absl::StatusOr<AccountStatusRecord> PgRulesStore::GetAccountStatus(const std::string& account_id) {
  AccountStatusRecord status;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec(kReadOnlySnapshot);
    EGRESS_ASSIGN_OR_RETURN(status, LoadStatus(txn, account_id));
    return absl::OkStatus();
  }));
  return status;
}

absl::StatusOr<AccountStatusRecord> PgRulesStore::SetAbuseLock(const std::string& account_id,
                                                               const AbuseLockWrite& lock,
                                                               const Actor& actor) {
  AccountStatusRecord status;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(std::string node_id, AccountNode(txn, account_id, /*lock=*/true));
    EGRESS_RETURN_IF_ERROR(lock_policy::CheckSetAbuse(actor.role));
    WriteAbuseLock(txn, account_id, node_id, lock, actor);
    EGRESS_ASSIGN_OR_RETURN(status, LoadStatus(txn, account_id));
    return absl::OkStatus();
  }));
  return status;
}

absl::StatusOr<AccountStatusRecord> PgRulesStore::LiftAbuseLock(const std::string& account_id,
                                                                const std::string& note,
                                                                const Actor& actor) {
  AccountStatusRecord status;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(std::string node_id, AccountNode(txn, account_id, /*lock=*/true));
    EGRESS_RETURN_IF_ERROR(lock_policy::CheckLiftAbuse(actor.role, note));
    if (!DeleteAbuseLock(txn, account_id, node_id, actor.name, "lock.abuse.clear", note)) {
      return absl::FailedPreconditionError(
          absl::StrCat("account \"", account_id, "\" has no abuse lock"));
    }
    EGRESS_ASSIGN_OR_RETURN(status, LoadStatus(txn, account_id));
    return absl::OkStatus();
  }));
  return status;
}

absl::StatusOr<int> PgRulesStore::LiftExpiredAbuseLocks(absl::Time now) {
  const int64_t now_us = absl::ToUnixMicros(now);
  std::vector<std::string> accounts;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    accounts.clear();
    for (const pqxx::row& row : ExecPrepared(txn, kExpiredAbuseLocks, now_us)) {
      accounts.push_back(row[0].as<std::string>());
    }
    return absl::OkStatus();
  }));
  int lifted = 0;
  for (const std::string& account_id : accounts) {
    // One account per transaction, under its row lock (lock_order.md); the
    // lock may have been lifted or extended meanwhile.
    bool done = false;
    absl::Status status = database_.Transact([&](pqxx::work& txn) -> absl::Status {
      done = false;
      absl::StatusOr<std::string> node_id = AccountNode(txn, account_id, /*lock=*/true);
      if (!node_id.ok()) return absl::OkStatus();  // deleted meanwhile
      if (ExecPrepared(txn, kStillExpired, account_id, now_us).empty()) return absl::OkStatus();
      done = DeleteAbuseLock(txn, account_id, *node_id, "abuse-detector", "lock.abuse.expire",
                             "expired");
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    if (done) ++lifted;
  }
  return lifted;
}

absl::StatusOr<int> PgRulesStore::DeleteExpiredBlockRules(absl::Time now) {
  const int64_t now_us = absl::ToUnixMicros(now);
  std::vector<std::string> accounts;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec(kReadOnlySnapshot);
    accounts.clear();
    for (const pqxx::row& row : ExecPrepared(txn, kExpiredRuleAccounts, now_us)) {
      accounts.push_back(row[0].as<std::string>());
    }
    return absl::OkStatus();
  }));
  int deleted = 0;
  for (const std::string& account_id : accounts) {
    // One account per transaction, in the order every writer follows
    // (lock_order.md): its row (step 2), its rules (step 3), the audit log
    // (step 4). Database::Transact retries conflicts like any writer; a rule
    // extended or deleted meanwhile no longer matches.
    int count = 0;
    absl::Status status = database_.Transact([&](pqxx::work& txn) -> absl::Status {
      count = 0;
      absl::StatusOr<std::string> node_id = AccountNode(txn, account_id, /*lock=*/true);
      if (!node_id.ok()) return absl::OkStatus();  // deleted meanwhile
      pqxx::result gone = ExecPrepared(txn, kDeleteExpiredRules, account_id, now_us);
      if (gone.empty()) return absl::OkStatus();
      BumpAccountRuleVersion(txn, account_id, *node_id);
      for (const pqxx::row& row : gone) {
        InsertAuditEvent(txn, account_id, kExpiryActor, "block_rule.expire",
                         row[1].as<std::string>(), std::nullopt);
      }
      count = static_cast<int>(gone.size());
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    deleted += count;
  }
  return deleted;
}

absl::StatusOr<ScanOutcome> PgRulesStore::ReportScan(const std::string& account_id,
                                                     const ScanReport& report, const Actor& actor) {
  std::vector<std::string> paths, signatures;
  paths.reserve(report.threats.size());
  signatures.reserve(report.threats.size());
  for (const Threat& threat : report.threats) {
    paths.push_back(threat.path);
    signatures.push_back(threat.signature);
  }
  const int64_t finished_us = absl::ToUnixMicros(report.finished_at);
  const int threat_count = static_cast<int>(report.threats.size());
  ScanOutcome outcome;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(std::string node_id, AccountNode(txn, account_id, /*lock=*/true));
    pqxx::result existing = ExecPrepared(txn, kExistingScan, account_id, report.scan_id);
    const bool repeated = !existing.empty();
    if (repeated &&
        (existing[0][0].as<int64_t>() != finished_us || existing[0][1].as<int>() != threat_count)) {
      return absl::AlreadyExistsError(
          absl::StrCat("scan_id: scan \"", report.scan_id,
                       "\" was already reported with a different finish time or threat count"));
    }
    if (!repeated) {
      ExecPrepared(txn, kInsertScan, account_id, report.scan_id, finished_us, threat_count,
                   PgArrayLiteral(paths), PgArrayLiteral(signatures));
    }
    const lock_policy::ScanRef scan{report.scan_id, absl::FromUnixMicros(finished_us),
                                    static_cast<uint32_t>(threat_count)};
    // The deciding scan among those that finished last (this one included,
    // as it is recorded).
    std::optional<lock_policy::ScanRef> deciding;
    for (const pqxx::row& row : ExecPrepared(txn, kLatestScans, account_id)) {
      lock_policy::ScanRef latest{row[0].as<std::string>(),
                                  absl::FromUnixMicros(row[1].as<int64_t>()),
                                  row[2].as<uint32_t>()};
      if (!deciding.has_value() || lock_policy::ScanDecidesOver(latest, *deciding)) {
        deciding = std::move(latest);
      }
    }
    outcome.stale = !deciding.has_value() || deciding->scan_id != report.scan_id;
    // A repeated report was decided when it first arrived.
    if (!outcome.stale && !repeated) {
      pqxx::result current = ExecPrepared(txn, kSelectLock, account_id, kAntivirusKind);
      switch (lock_policy::ForDecidingScan(scan, !current.empty())) {
        case lock_policy::AntivirusChange::kSet: {
          // A lock already in force keeps its `since`: the account has been
          // blocked since the first scan that found malware.
          pqxx::result after = ExecPrepared(txn, kUpsertAntivirusLock, account_id,
                                            lock_policy::AntivirusReason(scan), finished_us,
                                            actor.name, report.scan_id, threat_count);
          BumpAccountRuleVersion(txn, account_id, node_id);
          std::optional<std::string> before;
          if (!current.empty()) before = current[0][1].as<std::string>();
          InsertAuditEvent(txn, account_id, actor.name, "lock.antivirus.set", before,
                           after.at(0)[0].as<std::string>());
          break;
        }
        case lock_policy::AntivirusChange::kLift:
          ExecPrepared(txn, kDeleteLock, account_id, kAntivirusKind);
          BumpAccountRuleVersion(txn, account_id, node_id);
          InsertAuditEvent(txn, account_id, actor.name, "lock.antivirus.clear",
                           current[0][1].as<std::string>(), std::nullopt);
          break;
        case lock_policy::AntivirusChange::kNone:
          break;
      }
    }
    EGRESS_ASSIGN_OR_RETURN(outcome.status, LoadStatus(txn, account_id));
    return absl::OkStatus();
  }));
  return outcome;
}

absl::StatusOr<std::vector<AuditEventRecord>> PgRulesStore::ListAuditEvents(
    const std::string& account_id, std::optional<uint64_t> before_event_id, int limit,
    bool earlier_accounts) {
  const std::optional<std::string> before = OptionalId(before_event_id);
  std::vector<AuditEventRecord> events;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec(kReadOnlySnapshot);
    if (!earlier_accounts) {
      if (absl::Status found = AccountNode(txn, account_id, /*lock=*/false).status(); !found.ok()) {
        return found;
      }
    }
    events.clear();
    for (const pqxx::row& row : ExecPrepared(txn, kAuditPage, account_id, NullableText(before),
                                             limit, !earlier_accounts)) {
      AuditEventRecord event;
      event.event_id = row[0].as<uint64_t>();
      event.account_id = row[1].as<std::string>();
      event.time = absl::FromUnixMicros(row[2].as<int64_t>());
      event.actor = row[3].as<std::string>();
      event.action = row[4].as<std::string>();
      event.before_json = row[5].as<std::string>();
      event.after_json = row[6].as<std::string>();
      events.push_back(std::move(event));
    }
    return absl::OkStatus();
  }));
  return events;
}

}  // namespace egress
