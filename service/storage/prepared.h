// Statements of the hot write paths (rule changes, the rule sets pushed to
// agents, their confirmations) run as prepared statements: PostgreSQL parses
// and plans each text once per pooled connection instead of on every call.
// A modest saving (bench/rule_push_bench: 305 -> 342 changes/s at 16
// clients, within the machine's noise; parse and plan were a few per cent of
// PostgreSQL's CPU, the rest is execution, commits and round trips).
//
// Only for statements whose best plan does not depend on the parameters'
// values (key lookups, one-row writes): after a few executions PostgreSQL
// may switch a prepared statement to one generic plan.
#ifndef EGRESS_SERVICE_STORAGE_PREPARED_H_
#define EGRESS_SERVICE_STORAGE_PREPARED_H_

#include <string>
#include <utility>

#include "pqxx/pqxx"

namespace egress {

// The name `sql` is prepared under: "egress_" and the hash of its text, so
// one text always gets one name, on every connection.
std::string PreparedName(const char* sql);

// Prepares `sql` on the transaction's connection if it is not yet (pqxx
// sends it to the server on first use and again after a reconnection), then
// runs it with `args` as $1, $2, ...
template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& txn, const char* sql, Args&&... args) {
  const std::string name = PreparedName(sql);
  txn.conn().prepare(name, sql);
  return txn.exec_prepared(name, std::forward<Args>(args)...);
}

// The same, for a statement that returns exactly one row.
template <typename... Args>
pqxx::row ExecPrepared1(pqxx::transaction_base& txn, const char* sql, Args&&... args) {
  const std::string name = PreparedName(sql);
  txn.conn().prepare(name, sql);
  return txn.exec_prepared1(name, std::forward<Args>(args)...);
}

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PREPARED_H_
