#include "service/antivirus_service.h"

#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "service/accounts_validation.h"
#include "service/connections_validation.h"
#include "service/rpc_edge.h"

namespace egress {

grpc::Status AntivirusServiceImpl::ReportScan(grpc::ServerContext* context,
                                              const egress::v1::ReportScanRequest* request,
                                              egress::v1::ReportScanResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_ASSIGN_OR_RETURN(ScanReport report, ScanReportFromProto(*request, clock_.Now()));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(caller, Scope::kAntivirus));
    EGRESS_ASSIGN_OR_RETURN(ScanOutcome outcome,
                            rules_.ReportScan(request->account_id(), report, caller.AsActor()));
    AccountStatusToProto(outcome.status, response->mutable_status());
    response->set_stale(outcome.stale);
    LogInfo("scan_reported", {{"account_id", request->account_id()},
                              {"scan_id", report.scan_id},
                              {"threats", report.threats.size()},
                              {"stale", outcome.stale},
                              {"all_blocked", !outcome.status.locks.empty()}});
    return absl::OkStatus();
  }();
  return FinishRpc("ReportScan", status);
}

}  // namespace egress
