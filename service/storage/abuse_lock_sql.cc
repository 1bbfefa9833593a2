#include "service/storage/abuse_lock_sql.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "service/domain/lock_policy.h"
#include "service/storage/pg_values.h"
#include "service/storage/rule_changes.h"

namespace egress {
namespace {

#define EGRESS_ABUSE_LOCK_JSON                                                           \
  "jsonb_build_object('kind', 'abuse', 'reason', l.reason, 'since', l.since, 'set_by', " \
  "l.set_by, 'ports', to_jsonb(l.ports), 'expires_at', l.expires_at)::text"

constexpr char kCurrent[] =
    "SELECT array_to_string(l.ports, ' '), "
    "(extract(epoch FROM l.expires_at) * 1000000)::int8, " EGRESS_ABUSE_LOCK_JSON
    " FROM account_locks l WHERE l.account_id = $1 AND l.kind = 3";

// $3: ports ('{}' = every port); $4: expiry in Unix microseconds or NULL.
constexpr char kUpsert[] = R"sql(
INSERT INTO account_locks AS l (account_id, kind, reason, set_by, ports, expires_at)
VALUES ($1, 3, $2, $5, $3::int[],
        'epoch'::timestamptz + $4::int8 * interval '1 microsecond')
ON CONFLICT (account_id, kind) DO UPDATE
   SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, ports = EXCLUDED.ports,
       expires_at = EXCLUDED.expires_at
RETURNING )sql" EGRESS_ABUSE_LOCK_JSON;

constexpr char kDelete[] =
    "DELETE FROM account_locks AS l WHERE l.account_id = $1 AND l.kind = 3 "
    "RETURNING " EGRESS_ABUSE_LOCK_JSON;

#undef EGRESS_ABUSE_LOCK_JSON

constexpr char kCloseIncidents[] = R"sql(
UPDATE abuse_incidents SET closed_at = now(), closed_why = 'lifted'
 WHERE account_id = $1 AND closed_at IS NULL)sql";

constexpr char kNoteJson[] = "SELECT jsonb_build_object('note', $1::text)::text";

std::string PortsLiteral(const std::vector<uint16_t>& ports) {
  std::vector<std::string> text;
  for (uint16_t port : ports) text.push_back(std::to_string(port));
  return PgArrayLiteral(text);
}

}  // namespace

bool WriteAbuseLock(pqxx::work& txn, const std::string& account_id, const std::string& node_id,
                    const AbuseLockWrite& lock, const Actor& actor) {
  std::vector<uint16_t> ports = lock.ports;
  std::optional<absl::Time> expires_at = lock.expires_at;
  std::optional<std::string> before;
  pqxx::result current = txn.exec_params(kCurrent, account_id);
  if (!current.empty()) {
    before = current[0][2].as<std::string>();
    std::vector<uint16_t> held;
    for (absl::string_view port : absl::StrSplit(current[0][0].c_str(), ' ', absl::SkipEmpty())) {
      int value = 0;
      if (absl::SimpleAtoi(port, &value)) held.push_back(static_cast<uint16_t>(value));
    }
    std::optional<absl::Time> held_expiry;
    if (!current[0][1].is_null()) held_expiry = absl::FromUnixMicros(current[0][1].as<int64_t>());
    // Widen, never narrow: everything stays everything.
    if (held.empty() || ports.empty()) {
      ports.clear();
    } else {
      ports.insert(ports.end(), held.begin(), held.end());
    }
    if (!held_expiry.has_value() || !expires_at.has_value()) {
      expires_at.reset();
    } else {
      expires_at = std::max(*held_expiry, *expires_at);
    }
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    std::sort(held.begin(), held.end());
    if (ports == held && expires_at == held_expiry) return false;
  } else {
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  }
  std::optional<std::string> expiry;
  if (expires_at.has_value()) expiry = std::to_string(absl::ToUnixMicros(*expires_at));
  pqxx::result after = txn.exec_params(kUpsert, account_id, lock.reason, PortsLiteral(ports),
                                       expiry.has_value() ? expiry->c_str() : nullptr, actor.name);
  BumpAccountRuleVersion(txn, account_id, node_id);
  InsertAuditEvent(txn, account_id, actor.name, "lock.abuse.set", before,
                   after.at(0)[0].as<std::string>());
  return true;
}

bool DeleteAbuseLock(pqxx::work& txn, const std::string& account_id, const std::string& node_id,
                     const std::string& actor, const std::string& action, const std::string& note) {
  pqxx::result deleted = txn.exec_params(kDelete, account_id);
  if (deleted.empty()) return false;
  txn.exec_params(kCloseIncidents, account_id);
  BumpAccountRuleVersion(txn, account_id, node_id);
  // The note goes with the event: why support lifted it.
  const std::string after = txn.exec_params1(kNoteJson, note)[0].as<std::string>();
  InsertAuditEvent(txn, account_id, actor, action, deleted[0][0].as<std::string>(), after);
  return true;
}

}  // namespace egress
