// Writing and lifting the abuse lock inside a caller's transaction, shared by
// PgRulesStore (support's calls, expiry) and PgAbuseStore (the detector's
// incidents). The caller holds the account's row lock (lock_order.md step 2);
// these write account_locks (step 3), the audit log (step 4) and bump the
// account's rule version (announced after the commit, step 5).
#ifndef EGRESS_SERVICE_STORAGE_ABUSE_LOCK_SQL_H_
#define EGRESS_SERVICE_STORAGE_ABUSE_LOCK_SQL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pqxx/pqxx"
#include "service/domain/actor.h"

namespace egress {

struct AbuseLockWrite {
  // Empty: every port.
  std::vector<uint16_t> ports;
  std::optional<absl::Time> expires_at;
  std::string reason;
};

// Sets the abuse lock, or widens the one in force: a lock on everything
// stays; ports are added to the ports already blocked; the later expiry
// (none beats any) wins. Returns whether anything changed (then audited as
// "lock.abuse.set" and the rule version bumped).
bool WriteAbuseLock(pqxx::work& txn, const std::string& account_id, const std::string& node_id,
                    const AbuseLockWrite& lock, const Actor& actor);

// Lifts the abuse lock if one holds, audited as `action` with `note`
// ("lock.abuse.clear" by support, "lock.abuse.expire" by the sweeper), and
// closes the account's open incidents ('lifted'). Returns whether one held.
bool DeleteAbuseLock(pqxx::work& txn, const std::string& account_id, const std::string& node_id,
                     const std::string& actor, const std::string& action, const std::string& note);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_ABUSE_LOCK_SQL_H_
