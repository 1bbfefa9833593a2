// egress.v1.ConnectionsService: the "Outgoing connections" panel API.
#ifndef EGRESS_SERVICE_CONNECTIONS_SERVICE_H_
#define EGRESS_SERVICE_CONNECTIONS_SERVICE_H_

#include <atomic>

#include "absl/time/time.h"
#include "common/clock.h"
#include "egress/v1/connections.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/storage/connections_store.h"
#include "service/storage/rules_store.h"

namespace egress {

// Every call: Authenticate (UNAUTHENTICATED), validate every field
// (INVALID_ARGUMENT naming it; nothing is touched), RequireAccount (panel
// tokens only their own account, admin tokens any: PERMISSION_DENIED), then
// the store (NOT_FOUND for an unknown account). Changes are recorded with
// the caller's Actor() in the audit log.
//
// `service_zone` is the zone of the record days; ListConnections refuses
// dates after tomorrow in it. Thread-safe; the stores and the authorizer
// must outlive the service.
class ConnectionsServiceImpl final : public egress::v1::ConnectionsService::Service {
 public:
  // `clock` decides which day is today (in `service_zone`).
  ConnectionsServiceImpl(ConnectionsStore* connections, RulesStore* rules,
                         const Authorizer* authorizer, absl::TimeZone service_zone,
                         const Clock* clock = RealClock::Get())
      : connections_(*connections),
        rules_(*rules),
        authorizer_(*authorizer),
        service_zone_(service_zone),
        clock_(*clock) {}

  grpc::Status ListDates(grpc::ServerContext* context, const egress::v1::ListDatesRequest* request,
                         egress::v1::ListDatesResponse* response) override;
  grpc::Status ListConnections(grpc::ServerContext* context,
                               const egress::v1::ListConnectionsRequest* request,
                               egress::v1::ListConnectionsResponse* response) override;
  // Validation and errors as ListConnections (same field names); then the
  // rows from ConnectionsStore::ExportConnections as CSV (connections_csv.h)
  // in chunks of about kExportChunkBytes. At most kMaxConcurrentExports at
  // once (each holds a database connection for its whole length):
  // RESOURCE_EXHAUSTED beyond. CANCELLED when the caller goes away.
  grpc::Status ExportConnections(
      grpc::ServerContext* context, const egress::v1::ExportConnectionsRequest* request,
      grpc::ServerWriter<egress::v1::ExportConnectionsChunk>* writer) override;
  grpc::Status DailyCounts(grpc::ServerContext* context,
                           const egress::v1::DailyCountsRequest* request,
                           egress::v1::DailyCountsResponse* response) override;
  grpc::Status ListBlockRules(grpc::ServerContext* context,
                              const egress::v1::ListBlockRulesRequest* request,
                              egress::v1::ListBlockRulesResponse* response) override;
  grpc::Status BlockDestination(grpc::ServerContext* context,
                                const egress::v1::BlockDestinationRequest* request,
                                egress::v1::BlockRule* response) override;
  grpc::Status UpdateNote(grpc::ServerContext* context,
                          const egress::v1::UpdateNoteRequest* request,
                          egress::v1::BlockRule* response) override;
  grpc::Status DeleteBlockRules(grpc::ServerContext* context,
                                const egress::v1::DeleteBlockRulesRequest* request,
                                egress::v1::DeleteBlockRulesResponse* response) override;
  grpc::Status SetBlockAll(grpc::ServerContext* context,
                           const egress::v1::SetBlockAllRequest* request,
                           egress::v1::AccountStatus* response) override;
  grpc::Status GetAccountStatus(grpc::ServerContext* context,
                                const egress::v1::GetAccountStatusRequest* request,
                                egress::v1::AccountStatus* response) override;
  grpc::Status ListAuditEvents(grpc::ServerContext* context,
                               const egress::v1::ListAuditEventsRequest* request,
                               egress::v1::ListAuditEventsResponse* response) override;

 private:
  ConnectionsStore& connections_;
  RulesStore& rules_;
  const Authorizer& authorizer_;
  const absl::TimeZone service_zone_;
  const Clock& clock_;
  std::atomic<int> exports_running_{0};
};

// Rows fetched from the database at a time by ExportConnections.
inline constexpr int kExportBatchRows = 1000;
// A chunk is sent once it holds at least this many bytes (whole rows).
inline constexpr size_t kExportChunkBytes = 64 * 1024;
// Exports running at once; a fraction of the database pool, so the panel's
// other calls keep their connections.
inline constexpr int kMaxConcurrentExports = 4;

}  // namespace egress

#endif  // EGRESS_SERVICE_CONNECTIONS_SERVICE_H_
