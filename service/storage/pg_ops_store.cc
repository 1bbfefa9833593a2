#include "service/storage/pg_ops_store.h"

namespace egress {
namespace {

// One row per node; each node's version sums its accounts' (an index scan
// of accounts by node).
constexpr char kNodeRuleVersions[] = R"sql(
SELECT count(*),
       count(*) FILTER (WHERE applied_rule_version < egress_node_rule_version(node_id)),
       count(*) FILTER (WHERE apply_error <> '')
  FROM nodes)sql";

}  // namespace

absl::StatusOr<NodeRuleVersions> PgOpsStore::LoadNodeRuleVersions() {
  NodeRuleVersions result;
  absl::Status status = database_.Transact([&](pqxx::work& txn) -> absl::Status {
    const pqxx::row row = txn.exec1(kNodeRuleVersions);
    result.nodes = row[0].as<int64_t>();
    result.pending = row[1].as<int64_t>();
    result.apply_errors = row[2].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

}  // namespace egress
