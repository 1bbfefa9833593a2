#include "service/abuse_service.h"

#include "common/civil_day.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "service/abuse_validation.h"
#include "service/rpc_edge.h"

namespace egress {

grpc::Status AbuseServiceImpl::FindConnections(grpc::ServerContext* context,
                                               const egress::v1::FindConnectionsRequest* request,
                                               egress::v1::FindConnectionsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(caller, Scope::kAdmin));
    const absl::CivilDay latest = DayOf(clock_.Now(), service_zone_) + 1;
    EGRESS_ASSIGN_OR_RETURN(DestinationSearch search, SearchFromRequest(*request, latest));
    const int page_size = search.limit;
    // One extra row tells whether another page follows.
    search.limit = page_size + 1;
    EGRESS_ASSIGN_OR_RETURN(std::vector<AbuseMatchRow> rows, store_.FindConnections(search));
    const bool more = static_cast<int>(rows.size()) > page_size;
    if (more) rows.resize(page_size);
    for (const AbuseMatchRow& row : rows) AbuseMatchToProto(row, response->add_matches());
    if (more) response->set_next_page_token(AbusePageToken(rows.back().key));
    // Who looked for what is part of the abuse desk's trail.
    LogInfo("abuse_search", {{"actor", caller.ActorName()},
                             {"destination", search.destination.ToString()},
                             {"matches", static_cast<int64_t>(rows.size())}});
    return absl::OkStatus();
  }();
  return FinishRpc("FindConnections", status);
}

}  // namespace egress
