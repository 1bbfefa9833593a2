// CollectorStore on PostgreSQL.
#ifndef EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_

#include <algorithm>
#include <atomic>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "service/storage/aggregates.h"
#include "service/storage/collector_store.h"
#include "service/storage/database.h"
#include "service/storage/ingest_journal.h"

namespace egress {

// Journal shards the service runs with. Accounts are spread over the shards
// by a hash of their id, and each shard is folded on its own connection, so
// a backlog folds on as many cores as there are shards. Measured on 2 cores
// (bench/README.md, "Ingest journal"): two shards fold a flood of new keys
// 1.8x faster, but raise the usual mix's ack p99 from ~75 to ~115 ms (the
// journal's target is that p99), so the service runs one.
inline constexpr int kJournalShards = 1;

// The journal shard of an account among `shards`: FNV-1a of its id, the
// same on every replica and version (shards must hold disjoint accounts for
// their folds to run side by side without waiting on each other's rows; a
// disagreement would cost only that, never a count).
size_t JournalShardOf(absl::string_view account, int shards);

// How CommitBatches writes a group's records.
enum class IngestMode {
  // Merged straight into connection_daily and account_day_totals: visible
  // to the panel as soon as the batch is acknowledged.
  kDirect,
  // Appended as one ingest_journal entry; FoldJournal merges them later
  // (service/ingest_journal_folder.h). Acknowledgements cost one append,
  // and keys that recur across batches are written once per fold.
  kJournal,
};

class PgCollectorStore : public CollectorStore, public IngestJournal {
 public:
  // `database` must outlive the store.
  // `journal_shards` other than kJournalShards: for tests and benchmarks.
  // The last shard also folds entries of higher shards (written by a build
  // with more), so none are stranded.
  explicit PgCollectorStore(Database* database, IngestMode mode = IngestMode::kDirect,
                            int journal_shards = kJournalShards)
      : database_(*database), mode_(mode), journal_shards_(std::max(1, journal_shards)) {}

  absl::StatusOr<NodeInfo> LoadNode(const std::string& node_id) override;
  absl::StatusOr<CommitResult> CommitBatch(const IngestBatch& batch) override;
  absl::StatusOr<std::vector<CommitResult>> CommitBatches(
      const std::vector<const IngestBatch*>& batches) override;
  // Rule sets: pg_collector_rule_sets.cc.
  absl::StatusOr<NodeRuleSet> LoadRuleSet(const std::string& node_id) override;
  absl::StatusOr<NodeRuleSet> LoadRuleSetChanges(const std::string& node_id,
                                                 const RuleSetBase& base) override;
  absl::Status RecordRulesApplied(const std::string& node_id, uint64_t version,
                                  const std::string& error,
                                  const AppliedAccountVersions& accounts) override;
  absl::Status RecordAgentStats(const std::string& node_id, const AgentStatsRecord& stats) override;
  absl::StatusOr<std::pair<int, int>> MaintainPartitions(absl::CivilDay from, absl::CivilDay to,
                                                         absl::CivilDay drop_before) override;

  // Journal mode: while true, groups are written straight into the
  // aggregates as in kDirect (IngestJournalFolder::on_full).
  void SetJournalBypass(bool bypass) { journal_bypass_ = bypass; }

  int journal_shards() const override { return journal_shards_; }
  absl::StatusOr<JournalFold> FoldJournal(int shard, size_t max_records) override;
  absl::StatusOr<JournalBacklog> ReadJournalBacklog() override;

 private:
  // Merges `aggregates` into connection_daily and the per-day totals (and
  // row counts), and queues destinations not known to have an ip_info row.
  // Returns the distinct destinations, to remember once committed.
  std::vector<IpAddress> WriteAggregates(pqxx::work& txn, const AggregateMap& aggregates);

  // IPs known to have an ip_info row (queued or looked up), remembered after
  // the commit that queued or met them, so a batch skips the index probe for
  // them. Sound because ip_info rows are never deleted; bounded by
  // kMaxKnownIps (cleared past it).
  void RememberKnownIps(const std::vector<IpAddress>& ips);
  static constexpr size_t kMaxKnownIps = 1 << 20;

  Database& database_;
  const IngestMode mode_;
  const int journal_shards_;
  std::atomic<bool> journal_bypass_{false};
  absl::Mutex known_ips_mutex_;
  absl::flat_hash_set<IpAddress> known_ips_ ABSL_GUARDED_BY(known_ips_mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_COLLECTOR_STORE_H_
