// CollectorStore on PostgreSQL.
#ifndef EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_

#include "service/storage/collector_store.h"
#include "service/storage/database.h"

namespace egress {

class PgCollectorStore : public CollectorStore {
 public:
  // `database` must outlive the store.
  explicit PgCollectorStore(Database* database) : database_(*database) {}

  absl::StatusOr<NodeInfo> LoadNode(const std::string& node_id) override;
  absl::StatusOr<CommitResult> CommitBatch(const IngestBatch& batch) override;
  absl::StatusOr<NodeRuleSet> LoadRuleSet(const std::string& node_id) override;
  absl::Status RecordRulesApplied(const std::string& node_id, uint64_t version,
                                  const std::string& error) override;
  absl::Status RecordAgentStats(const std::string& node_id, const AgentStatsRecord& stats) override;
  absl::StatusOr<std::pair<int, int>> MaintainPartitions(absl::CivilDay from, absl::CivilDay to,
                                                         absl::CivilDay drop_before) override;

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_
