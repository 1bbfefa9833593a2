// Clients for the two standard services every egress-service exposes:
// gRPC server reflection (what grpcurl uses) and gRPC health checking.
// Neither .proto ships with Debian's gRPC, so both go through the generic
// stub: reflection messages are built from the descriptors compiled into
// libgrpc++_reflection, the two-field health messages are encoded by hand.
#ifndef EGRESS_TOOLS_EGRESSCTL_REFLECTION_CLIENT_H_
#define EGRESS_TOOLS_EGRESSCTL_REFLECTION_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace egress::ctl {

// Names of the services the server lists through reflection, sorted.
absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout);

// The serving status of `service` ("" = the whole server) as the health
// service names it: "SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN".
absl::StatusOr<std::string> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service, absl::Duration timeout);

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_REFLECTION_CLIENT_H_
