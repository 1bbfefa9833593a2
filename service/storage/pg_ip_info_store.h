// IpInfoStore on PostgreSQL (table ip_info, migration 0001).
#ifndef EGRESS_SERVICE_STORAGE_PG_IP_INFO_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_IP_INFO_STORE_H_

#include "service/enrichment/ip_info_store.h"
#include "service/storage/database.h"

namespace egress {

// EnqueueNew inside the caller's transaction, for the ingest path: the new
// IPs are queued in the same commit as the aggregates that mention them (one
// more statement, no extra round trip of a transaction). Same semantics as
// IpInfoStore::EnqueueNew; libpqxx exceptions propagate to the caller's
// Database::Transact, which maps them.
int64_t EnqueueNewIpInfo(pqxx::work& txn, absl::Span<const IpAddress> ips);

class PgIpInfoStore : public IpInfoStore {
 public:
  // `database` must outlive the store.
  explicit PgIpInfoStore(Database* database) : database_(*database) {}

  absl::StatusOr<int64_t> EnqueueNew(absl::Span<const IpAddress> ips) override;
  absl::StatusOr<std::vector<IpInfoRecord>> ClaimDue(int limit, absl::Duration lease) override;
  absl::Status SaveResults(absl::Span<const IpInfoResult> results, const IpInfoTtls& ttls) override;
  absl::StatusOr<std::optional<IpInfoRecord>> Get(const IpAddress& ip) override;
  absl::StatusOr<std::vector<IpInfoRecord>> GetMany(absl::Span<const IpAddress> ips) override;
  absl::StatusOr<IpInfoStoreStats> Stats() override;

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_IP_INFO_STORE_H_
