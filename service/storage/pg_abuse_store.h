// AbuseStore on PostgreSQL: connection_daily through its (ip, day) index,
// joined with the egress address history of migration 0007
// (pg_abuse_store.cc); incidents and policies of migration 0008
// (pg_abuse_incidents.cc).
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
  absl::StatusOr<AbuseIncidentOutcome> ReportIncident(const AbuseIncidentReport& report,
                                                      const Actor& actor) override;
  absl::StatusOr<int> CloseQuietIncidents(absl::Time before) override;
  absl::Status MarkNotified(uint64_t incident_id) override;
  absl::StatusOr<std::vector<AbuseIncidentRecord>> ListUnnotified(absl::Time since,
                                                                  int limit) override;
  absl::StatusOr<std::vector<AbuseIncidentRecord>> ListIncidents(const std::string& account_id,
                                                                 int limit) override;
  absl::StatusOr<AbusePolicySet> LoadPolicies() override;
  absl::StatusOr<AbusePolicyOverride> GetPolicy(AbuseScope scope, const std::string& id) override;
  absl::Status SetPolicy(AbuseScope scope, const std::string& id, const AbusePolicyOverride& policy,
                         const Actor& actor) override;

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_ABUSE_STORE_H_
