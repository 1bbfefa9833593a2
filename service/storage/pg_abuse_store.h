// AbuseStore on PostgreSQL: connection_daily through its (ip, day) index,
// joined with the egress address history of migration 0007.
#ifndef EGRESS_SERVICE_STORAGE_PG_ABUSE_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_ABUSE_STORE_H_

#include "service/storage/abuse_store.h"
#include "service/storage/database.h"

namespace egress {

class PgAbuseStore : public AbuseStore {
 public:
  // `database` must outlive the store.
  explicit PgAbuseStore(Database* database) : database_(*database) {}

  absl::StatusOr<std::vector<AbuseMatchRow>> FindConnections(
      const DestinationSearch& search) override;

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_ABUSE_STORE_H_
