// PgAbuseStore: incidents of the abuse detector and its policies (migration
// 0008). Incident writes follow lock_order.md: the account's row first
// (NO KEY UPDATE), then its incident and lock rows, then the audit log.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "pqxx/pqxx"
#include "service/storage/pg_abuse_store.h"
#include "service/storage/pg_values.h"
#include "service/storage/rule_changes.h"

namespace egress {
namespace {

constexpr char kLockIncidentAccount[] =
    "SELECT node_id FROM accounts WHERE account_id = $1 FOR NO KEY UPDATE";

constexpr char kOpenIncident[] = R"sql(
SELECT incident_id FROM abuse_incidents
 WHERE account_id = $1 AND kind = $2 AND closed_at IS NULL)sql";

constexpr char kTouchIncident[] = R"sql(
UPDATE abuse_incidents
   SET last_seen_at = greatest(last_seen_at,
                               'epoch'::timestamptz + $2::int8 * interval '1 microsecond')
 WHERE incident_id = $1)sql";

// Support lifted the abuse lock within the last window: the events that led
// to it are still in the detector's window, so they do not count again.
constexpr char kRecentlyLifted[] = R"sql(
SELECT 1 FROM audit_log
 WHERE account_id = $1 AND action = 'lock.abuse.clear'
   AND at > now() - $2::int8 * interval '1 second'
 LIMIT 1)sql";

constexpr char kInsertIncident[] = R"sql(
INSERT INTO abuse_incidents AS i
       (account_id, node_id, kind, detail, ports, opened_at, last_seen_at, lock)
VALUES ($1, $2, $3, $4, $5::int[], 'epoch'::timestamptz + $6::int8 * interval '1 microsecond',
        'epoch'::timestamptz + $6::int8 * interval '1 microsecond', $7)
ON CONFLICT (account_id, kind) WHERE closed_at IS NULL DO NOTHING
RETURNING i.incident_id,
          jsonb_build_object('incident_id', i.incident_id, 'kind', i.kind, 'node_id', i.node_id,
                             'detail', i.detail, 'ports', to_jsonb(i.ports))::text)sql";

constexpr char kCloseQuiet[] = R"sql(
UPDATE abuse_incidents
   SET closed_at = 'epoch'::timestamptz + $1::int8 * interval '1 microsecond',
       closed_why = 'quiet'
 WHERE closed_at IS NULL
   AND last_seen_at < 'epoch'::timestamptz + $1::int8 * interval '1 microsecond')sql";

constexpr char kIncidentAccountExists[] = "SELECT 1 FROM accounts WHERE account_id = $1";
#define EGRESS_INCIDENT_COLUMNS                                                          \
  "SELECT incident_id, account_id, node_id, kind, detail, array_to_string(ports, ' '), " \
  "(extract(epoch FROM opened_at) * 1000000)::int8, "                                    \
  "(extract(epoch FROM last_seen_at) * 1000000)::int8, "                                 \
  "(extract(epoch FROM closed_at) * 1000000)::int8, closed_why, lock FROM abuse_incidents "

constexpr char kListIncidents[] =
    EGRESS_INCIDENT_COLUMNS "WHERE account_id = $1 ORDER BY incident_id DESC LIMIT $2";
constexpr char kListUnnotified[] = EGRESS_INCIDENT_COLUMNS
    "WHERE notified_at IS NULL "
    "AND opened_at > 'epoch'::timestamptz + $1::int8 * interval '1 microsecond' "
    "ORDER BY opened_at, incident_id LIMIT $2";
#undef EGRESS_INCIDENT_COLUMNS

constexpr char kMarkNotified[] =
    "UPDATE abuse_incidents SET notified_at = now() WHERE incident_id = $1 AND notified_at IS NULL";

constexpr char kPolicyColumns[] = R"sql(
SELECT scope, coalesce(node_id, account_id, ''), enabled, smtp_max_connections,
       scan_max_destinations, reject_max, array_to_string(watched_ports, ' '),
       array_to_string(mail_server_uids, ' '), lock_action, lock_minutes, webhook_url
  FROM abuse_policies)sql";
constexpr char kPolicyOfScope[] = " WHERE scope = $1 AND coalesce(node_id, account_id, '') = $2";

constexpr char kNodeKeyShare[] = "SELECT 1 FROM nodes WHERE node_id = $1 FOR KEY SHARE";
constexpr char kAccountKeyShare[] = "SELECT 1 FROM accounts WHERE account_id = $1 FOR KEY SHARE";
constexpr char kDeletePolicy[] =
    "DELETE FROM abuse_policies WHERE scope = $1 AND coalesce(node_id, account_id, '') = $2 "
    "RETURNING 1";
constexpr char kInsertPolicy[] = R"sql(
INSERT INTO abuse_policies
       (scope, node_id, account_id, enabled, smtp_max_connections, scan_max_destinations,
        reject_max, watched_ports, mail_server_uids, lock_action, lock_minutes, webhook_url,
        updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::int[], $9::int8[], $10, $11, $12, $13))sql";

constexpr char kPolicyJson[] = R"sql(
SELECT jsonb_strip_nulls(jsonb_build_object(
         'enabled', $1::bool, 'smtp_max_connections', $2::int8,
         'scan_max_destinations', $3::int8, 'reject_max', $4::int8,
         'watched_ports', $5::int[], 'lock_action', $6::int, 'lock_minutes', $7::int))::text)sql";

template <typename T>
std::string ListLiteral(const std::vector<T>& values) {
  std::vector<std::string> text;
  for (const T& value : values) text.push_back(std::to_string(value));
  return PgArrayLiteral(text);
}

template <typename T>
absl::StatusOr<std::vector<T>> ListFromPg(absl::string_view text) {
  std::vector<T> values;
  for (absl::string_view part : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(part, &value)) return absl::InternalError("bad list in abuse tables");
    values.push_back(static_cast<T>(value));
  }
  return values;
}

template <typename T>
std::optional<std::string> OptionalText(const std::optional<T>& value) {
  if (!value.has_value()) return std::nullopt;
  return std::to_string(*value);
}

const char* Nullable(const std::optional<std::string>& value) {
  return value.has_value() ? value->c_str() : nullptr;
}

absl::StatusOr<AbusePolicyOverride> PolicyFromRow(const pqxx::row& row) {
  AbusePolicyOverride policy;
  if (!row[2].is_null()) policy.enabled = row[2].as<bool>();
  if (!row[3].is_null()) policy.smtp_max_connections = row[3].as<int64_t>();
  if (!row[4].is_null()) policy.scan_max_destinations = row[4].as<int64_t>();
  if (!row[5].is_null()) policy.reject_max = row[5].as<int64_t>();
  if (!row[6].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(policy.watched_ports, ListFromPg<uint16_t>(row[6].c_str()));
  }
  if (!row[7].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(policy.mail_server_uids, ListFromPg<uint32_t>(row[7].c_str()));
  }
  if (!row[8].is_null()) policy.lock_action = static_cast<AbuseLockAction>(row[8].as<int>());
  if (!row[9].is_null()) policy.lock_minutes = row[9].as<int>();
  if (!row[10].is_null()) policy.webhook_url = row[10].as<std::string>();
  return policy;
}

absl::StatusOr<AbuseIncidentRecord> IncidentFromRow(const pqxx::row& row) {
  AbuseIncidentRecord incident;
  incident.incident_id = row[0].as<uint64_t>();
  incident.account_id = row[1].as<std::string>();
  incident.node_id = row[2].as<std::string>();
  incident.kind = row[3].as<std::string>();
  incident.detail = row[4].as<std::string>();
  EGRESS_ASSIGN_OR_RETURN(incident.ports, ListFromPg<uint16_t>(row[5].c_str()));
  incident.opened_at = absl::FromUnixMicros(row[6].as<int64_t>());
  incident.last_seen_at = absl::FromUnixMicros(row[7].as<int64_t>());
  if (!row[8].is_null()) incident.closed_at = absl::FromUnixMicros(row[8].as<int64_t>());
  incident.closed_why = row[9].as<std::string>();
  incident.lock = row[10].as<std::string>();
  return incident;
}

bool IsEmpty(const AbusePolicyOverride& p) {
  return !p.enabled && !p.smtp_max_connections && !p.scan_max_destinations && !p.reject_max &&
         !p.watched_ports && !p.mail_server_uids && !p.lock_action && !p.lock_minutes &&
         !p.webhook_url;
}

// NOT_FOUND naming the node or account the scope names; KEY SHARE so it
// cannot be deleted before the override is written (lock_order.md step 1/2).
absl::Status CheckScope(pqxx::work& txn, AbuseScope scope, const std::string& id) {
  switch (scope) {
    case AbuseScope::kDefault:
      return absl::OkStatus();
    case AbuseScope::kNode:
      if (txn.exec_params(kNodeKeyShare, id).empty()) {
        return absl::NotFoundError(absl::StrCat("node_id: node \"", id, "\" does not exist"));
      }
      return absl::OkStatus();
    case AbuseScope::kAccount:
      if (txn.exec_params(kAccountKeyShare, id).empty()) {
        return absl::NotFoundError(absl::StrCat("account_id: account \"", id, "\" does not exist"));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("scope: unknown");
}

}  // namespace

absl::StatusOr<AbuseIncidentOutcome> PgAbuseStore::ReportIncident(const AbuseIncidentReport& report,
                                                                  const Actor& actor) {
  const int64_t at_us = absl::ToUnixMicros(report.at);
  AbuseIncidentOutcome outcome;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    outcome = AbuseIncidentOutcome();
    pqxx::result account = txn.exec_params(kLockIncidentAccount, report.account_id);
    if (account.empty() || account[0][0].as<std::string>() != report.node_id) {
      return absl::NotFoundError(absl::StrCat("account \"", report.account_id,
                                              "\" is not on node \"", report.node_id, "\""));
    }
    pqxx::result open = txn.exec_params(kOpenIncident, report.account_id, report.kind);
    if (!open.empty()) {
      outcome.incident_id = open[0][0].as<uint64_t>();
      txn.exec_params(kTouchIncident, outcome.incident_id, at_us);
      return absl::OkStatus();
    }
    if (!txn.exec_params(kRecentlyLifted, report.account_id, absl::ToInt64Seconds(kAbuseWindow))
             .empty()) {
      return absl::OkStatus();
    }
    std::string lock_name;
    if (report.lock.has_value()) lock_name = report.lock->ports.empty() ? "all" : "port";
    pqxx::result inserted =
        txn.exec_params(kInsertIncident, report.account_id, report.node_id, report.kind,
                        report.detail, ListLiteral(report.ports), at_us, lock_name);
    if (inserted.empty()) return absl::OkStatus();  // unreachable under the row lock
    outcome.opened = true;
    outcome.incident_id = inserted[0][0].as<uint64_t>();
    InsertAuditEvent(txn, report.account_id, actor.name, "abuse.incident", std::nullopt,
                     inserted[0][1].as<std::string>());
    if (report.lock.has_value()) {
      outcome.locked = WriteAbuseLock(txn, report.account_id, report.node_id, *report.lock, actor);
    }
    return absl::OkStatus();
  }));
  return outcome;
}

absl::StatusOr<int> PgAbuseStore::CloseQuietIncidents(absl::Time before) {
  int closed = 0;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    closed = txn.exec_params(kCloseQuiet, absl::ToUnixMicros(before)).affected_rows();
    return absl::OkStatus();
  }));
  return closed;
}

absl::Status PgAbuseStore::MarkNotified(uint64_t incident_id) {
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(kMarkNotified, incident_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<AbuseIncidentRecord>> PgAbuseStore::ListUnnotified(absl::Time since,
                                                                              int limit) {
  std::vector<AbuseIncidentRecord> incidents;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    incidents.clear();
    for (const pqxx::row& row :
         txn.exec_params(kListUnnotified, absl::ToUnixMicros(since), limit)) {
      EGRESS_ASSIGN_OR_RETURN(AbuseIncidentRecord incident, IncidentFromRow(row));
      incidents.push_back(std::move(incident));
    }
    return absl::OkStatus();
  }));
  return incidents;
}

absl::StatusOr<std::vector<AbuseIncidentRecord>> PgAbuseStore::ListIncidents(
    const std::string& account_id, int limit) {
  std::vector<AbuseIncidentRecord> incidents;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    incidents.clear();
    if (txn.exec_params(kIncidentAccountExists, account_id).empty()) {
      return absl::NotFoundError(
          absl::StrCat("account_id: account \"", account_id, "\" does not exist"));
    }
    for (const pqxx::row& row : txn.exec_params(kListIncidents, account_id, limit)) {
      EGRESS_ASSIGN_OR_RETURN(AbuseIncidentRecord incident, IncidentFromRow(row));
      incidents.push_back(std::move(incident));
    }
    return absl::OkStatus();
  }));
  return incidents;
}

absl::StatusOr<AbusePolicySet> PgAbuseStore::LoadPolicies() {
  AbusePolicySet set;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    set = AbusePolicySet();
    for (const pqxx::row& row : txn.exec(kPolicyColumns)) {
      EGRESS_ASSIGN_OR_RETURN(AbusePolicyOverride policy, PolicyFromRow(row));
      const std::string id = row[1].as<std::string>();
      switch (row[0].as<int>()) {
        case 0:
          set.default_scope = std::move(policy);
          break;
        case 1:
          set.nodes[id] = std::move(policy);
          break;
        default:
          set.accounts[id] = std::move(policy);
          break;
      }
    }
    return absl::OkStatus();
  }));
  return set;
}

absl::StatusOr<AbusePolicyOverride> PgAbuseStore::GetPolicy(AbuseScope scope,
                                                            const std::string& id) {
  AbusePolicyOverride policy;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    policy = AbusePolicyOverride();
    EGRESS_RETURN_IF_ERROR(CheckScope(txn, scope, id));
    pqxx::result rows =
        txn.exec_params(absl::StrCat(kPolicyColumns, kPolicyOfScope), static_cast<int>(scope), id);
    if (!rows.empty()) {
      EGRESS_ASSIGN_OR_RETURN(policy, PolicyFromRow(rows[0]));
    }
    return absl::OkStatus();
  }));
  return policy;
}

absl::Status PgAbuseStore::SetPolicy(AbuseScope scope, const std::string& id,
                                     const AbusePolicyOverride& policy, const Actor& actor) {
  std::optional<std::string> watched, uids, action;
  if (policy.watched_ports) watched = ListLiteral(*policy.watched_ports);
  if (policy.mail_server_uids) uids = ListLiteral(*policy.mail_server_uids);
  if (policy.lock_action) action = std::to_string(static_cast<int>(*policy.lock_action));
  std::optional<std::string> enabled;
  if (policy.enabled) enabled = *policy.enabled ? "true" : "false";
  const std::optional<std::string> smtp = OptionalText(policy.smtp_max_connections);
  const std::optional<std::string> scan = OptionalText(policy.scan_max_destinations);
  const std::optional<std::string> reject = OptionalText(policy.reject_max);
  const std::optional<std::string> minutes = OptionalText(policy.lock_minutes);
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    EGRESS_RETURN_IF_ERROR(CheckScope(txn, scope, id));
    txn.exec_params(kDeletePolicy, static_cast<int>(scope), id);
    if (!IsEmpty(policy)) {
      std::optional<std::string> node_id, account_id;
      if (scope == AbuseScope::kNode) node_id = id;
      if (scope == AbuseScope::kAccount) account_id = id;
      txn.exec_params(kInsertPolicy, static_cast<int>(scope), Nullable(node_id),
                      Nullable(account_id), Nullable(enabled), Nullable(smtp), Nullable(scan),
                      Nullable(reject), Nullable(watched), Nullable(uids), Nullable(action),
                      Nullable(minutes), Nullable(policy.webhook_url), actor.name);
    }
    if (scope == AbuseScope::kAccount) {
      // The account's own trail says who changed what the detector does to it.
      const std::string after =
          txn.exec_params1(kPolicyJson, Nullable(enabled), Nullable(smtp), Nullable(scan),
                           Nullable(reject), Nullable(watched), Nullable(action),
                           Nullable(minutes))[0]
              .as<std::string>();
      InsertAuditEvent(txn, id, actor.name, "abuse.policy", std::nullopt, after);
    }
    return absl::OkStatus();
  });
}

}  // namespace egress
