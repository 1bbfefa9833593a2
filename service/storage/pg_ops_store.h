// Figures for operators (metrics) that only the database knows: how many
// nodes enforce an older rule set than the current one. Read at scrape time,
// so every query here is a bounded aggregate over a small table.
#ifndef EGRESS_SERVICE_STORAGE_PG_OPS_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_OPS_STORE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "service/storage/database.h"

namespace egress {

struct NodeRuleVersions {
  int64_t nodes = 0;
  // Nodes whose agent last reported an applied version below the current one.
  int64_t pending = 0;
  // Nodes whose agent reported an error applying its rule set.
  int64_t apply_errors = 0;
};

// Thread-safe; `database` must outlive it. Errors are the storage layer's
// (see database.h).
class PgOpsStore {
 public:
  explicit PgOpsStore(Database* database) : database_(*database) {}

  absl::StatusOr<NodeRuleVersions> LoadNodeRuleVersions();

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_OPS_STORE_H_
