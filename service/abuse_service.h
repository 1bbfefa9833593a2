// egress.v1.AbuseService: the abuse desk's questions (admin scope).
#ifndef EGRESS_SERVICE_ABUSE_SERVICE_H_
#define EGRESS_SERVICE_ABUSE_SERVICE_H_

#include "absl/time/time.h"
#include "common/clock.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/storage/abuse_store.h"

namespace egress {

// FindConnections: Authenticate (UNAUTHENTICATED), RequireScope(kAdmin)
// (PERMISSION_DENIED), validate (INVALID_ARGUMENT naming the field), then the
// store. Thread-safe; `store` and `authorizer` must outlive the service.
class AbuseServiceImpl final : public egress::v1::AbuseService::Service {
 public:
  // `clock` and `service_zone` decide which day is today.
  AbuseServiceImpl(AbuseStore* store, const Authorizer* authorizer, absl::TimeZone service_zone,
                   const Clock* clock = RealClock::Get())
      : store_(*store), authorizer_(*authorizer), service_zone_(service_zone), clock_(*clock) {}

  grpc::Status FindConnections(grpc::ServerContext* context,
                               const egress::v1::FindConnectionsRequest* request,
                               egress::v1::FindConnectionsResponse* response) override;

 private:
  AbuseStore& store_;
  const Authorizer& authorizer_;
  const absl::TimeZone service_zone_;
  const Clock& clock_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_SERVICE_H_
