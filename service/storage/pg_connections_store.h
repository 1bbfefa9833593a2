// ConnectionsStore on PostgreSQL: ListDates and DailyCounts read the small
// account_day_totals summary (never connection_daily); ListConnections reads
// one day of connection_daily through its primary key (account, day, ip, ...).
#ifndef EGRESS_SERVICE_STORAGE_PG_CONNECTIONS_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_CONNECTIONS_STORE_H_

#include "pqxx/pqxx"
#include "service/storage/connections_store.h"
#include "service/storage/database.h"

namespace egress {

class PgConnectionsStore : public ConnectionsStore {
 public:
  // `database` must outlive the store.
  explicit PgConnectionsStore(Database* database) : database_(*database) {}

  absl::StatusOr<std::vector<DaySummary>> ListDates(const std::string& account_id) override;
  absl::StatusOr<ConnectionPage> ListConnections(const ConnectionQuery& query) override;
  // A server-side cursor (DECLARE ... NO SCROLL, FETCH batch_rows) in a
  // read-only REPEATABLE READ transaction: one snapshot, one sort of the
  // day, rows leave as PostgreSQL produces them.
  absl::Status ExportConnections(const ConnectionQuery& query, int batch_rows,
                                 const RowBatchSink& sink) override;
  absl::StatusOr<std::vector<DaySummary>> DailyCounts(const std::string& account_id,
                                                      absl::CivilDay from,
                                                      absl::CivilDay to) override;

 private:
  Database& database_;
};

// Shared with PgRulesStore: SQL select-list text for the ip_info columns of
// an `ip_info` row aliased `i` (8 columns, all NULL when there is no row),
// and its reader starting at `column`.
extern const char kIpInfoColumns[];
absl::StatusOr<DestinationInfo> IpInfoFromRow(const pqxx::row& row, int column);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_CONNECTIONS_STORE_H_
