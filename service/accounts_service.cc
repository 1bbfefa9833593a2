#include "service/accounts_service.h"

#include "absl/strings/str_cat.h"
#include "common/field_status.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "service/accounts_validation.h"
#include "service/enrichment/ip_info_proto.h"
#include "service/paging.h"
#include "service/rpc_edge.h"

namespace egress {
namespace {

using egress::v1::Account;
using egress::v1::Node;

constexpr char kNodesToken[] = "nodes";
constexpr char kAccountsToken[] = "accounts";

}  // namespace

absl::StatusOr<Caller> AccountsServiceImpl::Admin(grpc::ServerContext* context) const {
  absl::StatusOr<Caller> caller = authorizer_.Authenticate(*context);
  if (!caller.ok()) return caller.status();
  EGRESS_RETURN_IF_ERROR(Authorizer::RequireScope(*caller, Scope::kAdmin));
  return caller;
}

grpc::Status AccountsServiceImpl::UpsertNode(grpc::ServerContext* context,
                                             const egress::v1::UpsertNodeRequest* request,
                                             Node* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    if (!request->has_node()) return absl::InvalidArgumentError("node: is required");
    EGRESS_ASSIGN_OR_RETURN(NodeSpec spec, NodeSpecFromProto(request->node()));
    EGRESS_ASSIGN_OR_RETURN(NodeRecord record, store_.UpsertNode(spec, caller.AsActor()));
    NodeToProto(record, response);
    LogInfo("node_upserted", {{"node_id", spec.node_id}, {"rule_version", record.rule_version}});
    return absl::OkStatus();
  }();
  return FinishRpc("UpsertNode", status);
}

grpc::Status AccountsServiceImpl::GetNode(grpc::ServerContext* context,
                                          const egress::v1::GetNodeRequest* request,
                                          Node* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->node_id(), "node_id"));
    EGRESS_ASSIGN_OR_RETURN(NodeRecord record, store_.GetNode(request->node_id()));
    NodeToProto(record, response);
    return absl::OkStatus();
  }();
  return FinishRpc("GetNode", status);
}

grpc::Status AccountsServiceImpl::ListNodes(grpc::ServerContext* context,
                                            const egress::v1::ListNodesRequest* request,
                                            egress::v1::ListNodesResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    EGRESS_ASSIGN_OR_RETURN(int page_size, ResolvePageSize(request->page_size(), "page_size"));
    EGRESS_ASSIGN_OR_RETURN(std::string after,
                            DecodePageToken(request->page_token(), kNodesToken, "page_token"));
    if (!after.empty()) EGRESS_RETURN_IF_ERROR(ValidateIdField(after, "page_token"));
    // One extra row tells whether another page follows.
    EGRESS_ASSIGN_OR_RETURN(std::vector<NodeRecord> nodes, store_.ListNodes(after, page_size + 1));
    const bool more = static_cast<int>(nodes.size()) > page_size;
    if (more) nodes.resize(page_size);
    for (const NodeRecord& node : nodes) NodeToProto(node, response->add_nodes());
    if (more)
      response->set_next_page_token(EncodePageToken(kNodesToken, nodes.back().spec.node_id));
    return absl::OkStatus();
  }();
  return FinishRpc("ListNodes", status);
}

grpc::Status AccountsServiceImpl::DeleteNode(grpc::ServerContext* context,
                                             const egress::v1::DeleteNodeRequest* request,
                                             egress::v1::DeleteNodeResponse*) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->node_id(), "node_id"));
    EGRESS_RETURN_IF_ERROR(store_.DeleteNode(request->node_id(), caller.AsActor()));
    LogInfo("node_deleted", {{"node_id", request->node_id()}});
    return absl::OkStatus();
  }();
  return FinishRpc("DeleteNode", status);
}

grpc::Status AccountsServiceImpl::UpsertAccount(grpc::ServerContext* context,
                                                const egress::v1::UpsertAccountRequest* request,
                                                Account* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    if (!request->has_account()) return absl::InvalidArgumentError("account: is required");
    EGRESS_ASSIGN_OR_RETURN(AccountSpec spec, AccountSpecFromProto(request->account()));
    EGRESS_ASSIGN_OR_RETURN(AccountRecord record, store_.UpsertAccount(spec, caller.AsActor()));
    AccountToProto(record, response);
    LogInfo("account_upserted",
            {{"account_id", spec.account_id}, {"node_id", spec.node_id}, {"uid", spec.uid}});
    return absl::OkStatus();
  }();
  return FinishRpc("UpsertAccount", status);
}

grpc::Status AccountsServiceImpl::GetAccount(grpc::ServerContext* context,
                                             const egress::v1::GetAccountRequest* request,
                                             Account* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_ASSIGN_OR_RETURN(AccountRecord record, store_.GetAccount(request->account_id()));
    AccountToProto(record, response);
    return absl::OkStatus();
  }();
  return FinishRpc("GetAccount", status);
}

grpc::Status AccountsServiceImpl::ListAccounts(grpc::ServerContext* context,
                                               const egress::v1::ListAccountsRequest* request,
                                               egress::v1::ListAccountsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    if (!request->node_id().empty()) {
      EGRESS_RETURN_IF_ERROR(ValidateIdField(request->node_id(), "node_id"));
    }
    EGRESS_ASSIGN_OR_RETURN(int page_size, ResolvePageSize(request->page_size(), "page_size"));
    EGRESS_ASSIGN_OR_RETURN(std::string after,
                            DecodePageToken(request->page_token(), kAccountsToken, "page_token"));
    if (!after.empty()) EGRESS_RETURN_IF_ERROR(ValidateIdField(after, "page_token"));
    EGRESS_ASSIGN_OR_RETURN(std::vector<AccountRecord> accounts,
                            store_.ListAccounts(request->node_id(), after, page_size + 1));
    const bool more = static_cast<int>(accounts.size()) > page_size;
    if (more) accounts.resize(page_size);
    for (const AccountRecord& account : accounts) {
      AccountToProto(account, response->add_accounts());
    }
    if (more) {
      response->set_next_page_token(
          EncodePageToken(kAccountsToken, accounts.back().spec.account_id));
    }
    return absl::OkStatus();
  }();
  return FinishRpc("ListAccounts", status);
}

grpc::Status AccountsServiceImpl::DeleteAccount(grpc::ServerContext* context,
                                                const egress::v1::DeleteAccountRequest* request,
                                                egress::v1::DeleteAccountResponse*) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_RETURN_IF_ERROR(store_.DeleteAccount(request->account_id(), caller.AsActor()));
    LogInfo("account_deleted", {{"account_id", request->account_id()}});
    return absl::OkStatus();
  }();
  return FinishRpc("DeleteAccount", status);
}

}  // namespace egress

namespace egress {

grpc::Status AccountsServiceImpl::LookupIp(grpc::ServerContext* context,
                                           const egress::v1::LookupIpRequest* request,
                                           egress::v1::LookupIpResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, Admin(context));
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(request->ip());
    if (!ip.ok()) return AnnotateField("ip", ip.status());
    if (enrichment_ == nullptr) {
      return absl::FailedPreconditionError("this replica runs without enrichment");
    }
    EGRESS_ASSIGN_OR_RETURN(IpInfoRecord record,
                            enrichment_->worker().Lookup(*ip, request->refresh()));
    response->set_ip(ip->ToString());
    IpInfoRecordToProto(record, response->mutable_ip_info());
    IpInfoExpireTimeToProto(record, response->mutable_expire_time());
    return absl::OkStatus();
  }();
  return FinishRpc("LookupIp", status);
}

}  // namespace egress
