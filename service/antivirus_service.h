// egress.v1.AntivirusService: scan reports that lock and unlock accounts.
#ifndef EGRESS_SERVICE_ANTIVIRUS_SERVICE_H_
#define EGRESS_SERVICE_ANTIVIRUS_SERVICE_H_

#include "common/clock.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/storage/rules_store.h"

namespace egress {

// ReportScan: Authenticate (UNAUTHENTICATED), validate (INVALID_ARGUMENT
// naming the field), RequireScope(kAntivirus) (PERMISSION_DENIED), then the
// store (NOT_FOUND for an unknown account; ALREADY_EXISTS for a scan_id
// reported before with other results). Thread-safe; `rules` and
// `authorizer` must outlive the service.
class AntivirusServiceImpl final : public egress::v1::AntivirusService::Service {
 public:
  // `clock` decides which finish times are in the future.
  AntivirusServiceImpl(RulesStore* rules, const Authorizer* authorizer,
                       const Clock* clock = RealClock::Get())
      : rules_(*rules), authorizer_(*authorizer), clock_(*clock) {}

  grpc::Status ReportScan(grpc::ServerContext* context,
                          const egress::v1::ReportScanRequest* request,
                          egress::v1::ReportScanResponse* response) override;

 private:
  RulesStore& rules_;
  const Authorizer& authorizer_;
  const Clock& clock_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ANTIVIRUS_SERVICE_H_
