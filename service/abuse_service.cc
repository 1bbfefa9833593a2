#include "service/abuse_service.h"

#include "common/civil_day.h"
#include "common/field_status.h"
#include "common/log.h"
#include "common/note.h"
#include "common/status_macros.h"
#include "service/abuse_policy_proto.h"
#include "service/abuse_validation.h"
#include "service/connections_validation.h"
#include "service/proto_time.h"
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

absl::Status AbuseServiceImpl::DescribePolicy(const std::string& scope_node,
                                              const std::string& scope_account, AbuseScope scope,
                                              const std::string& id,
                                              egress::v1::GetAbusePolicyResponse* response) {
  EGRESS_ASSIGN_OR_RETURN(AbusePolicyOverride own, store_.GetPolicy(scope, id));
  EGRESS_ASSIGN_OR_RETURN(AbusePolicySet all, store_.LoadPolicies());
  std::string node = scope_node;
  if (scope == AbuseScope::kAccount) {
    EGRESS_ASSIGN_OR_RETURN(AccountStatusRecord status, rules_store_.GetAccountStatus(id));
    node = status.node_id;
  }
  PolicyToProto(own, response->mutable_policy());
  EffectivePolicyToProto(all.Resolve(node, scope_account), response->mutable_effective());
  return absl::OkStatus();
}

grpc::Status AbuseServiceImpl::GetAbusePolicy(grpc::ServerContext* context,
                                              const egress::v1::GetAbusePolicyRequest* request,
                                              egress::v1::GetAbusePolicyResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(caller, Scope::kAdmin));
    EGRESS_ASSIGN_OR_RETURN(
        PolicyScopeRef ref,
        ScopeFromRequest(request->scope(), request->node_id(), request->account_id()));
    return DescribePolicy(request->node_id(), request->account_id(), ref.scope, ref.id, response);
  }();
  return FinishRpc("GetAbusePolicy", status);
}

grpc::Status AbuseServiceImpl::SetAbusePolicy(grpc::ServerContext* context,
                                              const egress::v1::SetAbusePolicyRequest* request,
                                              egress::v1::GetAbusePolicyResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(caller, Scope::kAdmin));
    EGRESS_ASSIGN_OR_RETURN(
        PolicyScopeRef ref,
        ScopeFromRequest(request->scope(), request->node_id(), request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(AbusePolicyOverride policy,
                            PolicyFromProto(request->policy(), ref.scope));
    EGRESS_RETURN_IF_ERROR(store_.SetPolicy(ref.scope, ref.id, policy, caller.AsActor()));
    LogInfo("abuse_policy_set", {{"actor", caller.ActorName()},
                                 {"scope", static_cast<int64_t>(ref.scope)},
                                 {"id", ref.id}});
    if (policies_changed_) policies_changed_();
    return DescribePolicy(request->node_id(), request->account_id(), ref.scope, ref.id, response);
  }();
  return FinishRpc("SetAbusePolicy", status);
}

grpc::Status AbuseServiceImpl::SetAbuseLock(grpc::ServerContext* context,
                                            const egress::v1::SetAbuseLockRequest* request,
                                            egress::v1::AccountStatus* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(caller, Scope::kAdmin));
    EGRESS_RETURN_IF_ERROR(AnnotateField("account_id", ValidateIdentifier(request->account_id())));
    EGRESS_ASSIGN_OR_RETURN(AbuseLockWrite lock, AbuseLockFromRequest(*request, clock_.Now()));
    EGRESS_ASSIGN_OR_RETURN(
        AccountStatusRecord record,
        rules_store_.SetAbuseLock(request->account_id(), lock, caller.AsActor()));
    AccountStatusToProto(record, response);
    return absl::OkStatus();
  }();
  return FinishRpc("SetAbuseLock", status);
}

grpc::Status AbuseServiceImpl::LiftAbuseLock(grpc::ServerContext* context,
                                             const egress::v1::LiftAbuseLockRequest* request,
                                             egress::v1::AccountStatus* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    // The account's own panel token passes this and meets the lock policy,
    // which tells the customer what to do; another account's is refused here.
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_RETURN_IF_ERROR(AnnotateField("account_id", ValidateIdentifier(request->account_id())));
    EGRESS_RETURN_IF_ERROR(AnnotateField("note", ValidateNote(request->note())));
    EGRESS_ASSIGN_OR_RETURN(
        AccountStatusRecord record,
        rules_store_.LiftAbuseLock(request->account_id(), request->note(), caller.AsActor()));
    AccountStatusToProto(record, response);
    return absl::OkStatus();
  }();
  return FinishRpc("LiftAbuseLock", status);
}

grpc::Status AbuseServiceImpl::ListAbuseIncidents(
    grpc::ServerContext* context, const egress::v1::ListAbuseIncidentsRequest* request,
    egress::v1::ListAbuseIncidentsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(caller, Scope::kAdmin));
    EGRESS_RETURN_IF_ERROR(AnnotateField("account_id", ValidateIdentifier(request->account_id())));
    if (request->page_size() < 0 || request->page_size() > 1000) {
      return InvalidField("page_size", "must be 0..1000 (0 means 100)");
    }
    const int limit = request->page_size() == 0 ? 100 : request->page_size();
    EGRESS_ASSIGN_OR_RETURN(std::vector<AbuseIncidentRecord> incidents,
                            store_.ListIncidents(request->account_id(), limit));
    for (const AbuseIncidentRecord& record : incidents) {
      egress::v1::AbuseIncident* out = response->add_incidents();
      out->set_incident_id(record.incident_id);
      out->set_account_id(record.account_id);
      out->set_node_id(record.node_id);
      out->set_kind(record.kind);
      out->set_detail(record.detail);
      for (uint16_t port : record.ports) out->add_ports(port);
      TimeToProto(record.opened_at, out->mutable_open_time());
      TimeToProto(record.last_seen_at, out->mutable_last_seen_time());
      if (record.closed_at.has_value()) TimeToProto(*record.closed_at, out->mutable_close_time());
      out->set_closed_why(record.closed_why);
    }
    return absl::OkStatus();
  }();
  return FinishRpc("ListAbuseIncidents", status);
}

}  // namespace egress
