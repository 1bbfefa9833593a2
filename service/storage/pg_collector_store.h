// CollectorStore on PostgreSQL.
#ifndef EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "service/storage/collector_store.h"
#include "service/storage/database.h"

namespace egress {

class PgCollectorStore : public CollectorStore {
 public:
  // `database` must outlive the store.
  explicit PgCollectorStore(Database* database) : database_(*database) {}

  absl::StatusOr<NodeInfo> LoadNode(const std::string& node_id) override;
  absl::StatusOr<CommitResult> CommitBatch(const IngestBatch& batch) override;
  absl::StatusOr<std::vector<CommitResult>> CommitBatches(
      const std::vector<const IngestBatch*>& batches) override;
  absl::StatusOr<NodeRuleSet> LoadRuleSet(const std::string& node_id) override;
  absl::Status RecordRulesApplied(const std::string& node_id, uint64_t version,
                                  const std::string& error) override;
  absl::Status RecordAgentStats(const std::string& node_id, const AgentStatsRecord& stats) override;
  absl::StatusOr<std::pair<int, int>> MaintainPartitions(absl::CivilDay from, absl::CivilDay to,
                                                         absl::CivilDay drop_before) override;

 private:
  // IPs known to have an ip_info row (queued or looked up), remembered after
  // the commit that queued or met them, so a batch skips the index probe for
  // them. Sound because ip_info rows are never deleted; bounded by
  // kMaxKnownIps (cleared past it).
  void RememberKnownIps(const std::vector<IpAddress>& ips);
  static constexpr size_t kMaxKnownIps = 1 << 20;

  Database& database_;
  absl::Mutex known_ips_mutex_;
  absl::flat_hash_set<IpAddress> known_ips_ ABSL_GUARDED_BY(known_ips_mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_
