// egress.v1.AbuseService: the abuse desk (admin scope): who connected to D,
// detection policies, the abuse lock by hand, incidents.
#ifndef EGRESS_SERVICE_ABUSE_SERVICE_H_
#define EGRESS_SERVICE_ABUSE_SERVICE_H_

#include <functional>

#include "absl/time/time.h"
#include "common/clock.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/storage/abuse_store.h"
#include "service/storage/rules_store.h"

namespace egress {

// Every call: Authenticate (UNAUTHENTICATED), RequireScope(kAdmin)
// (PERMISSION_DENIED) — except LiftAbuseLock, where a panel token of the
// account itself reaches the lock policy, which refuses it with
// PERMISSION_DENIED and what to do — then validate (INVALID_ARGUMENT naming
// the field), then the stores. Thread-safe; the stores and authorizer must
// outlive the service.
class AbuseServiceImpl final : public egress::v1::AbuseService::Service {
 public:
  // `clock` and `service_zone` decide which day is today. `policies_changed`
  // (optional) is called after SetAbusePolicy (the detector re-reads them).
  AbuseServiceImpl(AbuseStore* store, RulesStore* rules_store, const Authorizer* authorizer,
                   absl::TimeZone service_zone, const Clock* clock = RealClock::Get(),
                   std::function<void()> policies_changed = nullptr)
      : store_(*store),
        rules_store_(*rules_store),
        authorizer_(*authorizer),
        service_zone_(service_zone),
        clock_(*clock),
        policies_changed_(std::move(policies_changed)) {}

  grpc::Status FindConnections(grpc::ServerContext* context,
                               const egress::v1::FindConnectionsRequest* request,
                               egress::v1::FindConnectionsResponse* response) override;
  grpc::Status GetAbusePolicy(grpc::ServerContext* context,
                              const egress::v1::GetAbusePolicyRequest* request,
                              egress::v1::GetAbusePolicyResponse* response) override;
  grpc::Status SetAbusePolicy(grpc::ServerContext* context,
                              const egress::v1::SetAbusePolicyRequest* request,
                              egress::v1::GetAbusePolicyResponse* response) override;
  grpc::Status SetAbuseLock(grpc::ServerContext* context,
                            const egress::v1::SetAbuseLockRequest* request,
                            egress::v1::AccountStatus* response) override;
  grpc::Status LiftAbuseLock(grpc::ServerContext* context,
                             const egress::v1::LiftAbuseLockRequest* request,
                             egress::v1::AccountStatus* response) override;
  grpc::Status ListAbuseIncidents(grpc::ServerContext* context,
                                  const egress::v1::ListAbuseIncidentsRequest* request,
                                  egress::v1::ListAbuseIncidentsResponse* response) override;

 private:
  // The scope's override and what is in force there.
  absl::Status DescribePolicy(const std::string& scope_node, const std::string& scope_account,
                              AbuseScope scope, const std::string& id,
                              egress::v1::GetAbusePolicyResponse* response);

  AbuseStore& store_;
  RulesStore& rules_store_;
  const Authorizer& authorizer_;
  const absl::TimeZone service_zone_;
  const Clock& clock_;
  const std::function<void()> policies_changed_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_SERVICE_H_
