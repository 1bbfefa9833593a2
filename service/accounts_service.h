// egress.v1.AccountsService: nodes and accounts, for admins and provisioning.
#ifndef EGRESS_SERVICE_ACCOUNTS_SERVICE_H_
#define EGRESS_SERVICE_ACCOUNTS_SERVICE_H_

#include "egress/v1/accounts.grpc.pb.h"
#include "service/auth/authorizer.h"
#include "service/enrichment/enrichment.h"
#include "service/storage/accounts_store.h"

namespace egress {

// Every call needs a token with the `admin` scope. Validates each request
// completely before touching the store, so a bad request changes nothing.
// Thread-safe; `store` and `authorizer` must outlive the service.
class AccountsServiceImpl final : public egress::v1::AccountsService::Service {
 public:
  // `enrichment` may be null (LookupIp is then FAILED_PRECONDITION).
  AccountsServiceImpl(AccountsStore* store, const Authorizer* authorizer, Enrichment* enrichment)
      : store_(*store), authorizer_(*authorizer), enrichment_(enrichment) {}

  grpc::Status UpsertNode(grpc::ServerContext* context,
                          const egress::v1::UpsertNodeRequest* request,
                          egress::v1::Node* response) override;
  grpc::Status GetNode(grpc::ServerContext* context, const egress::v1::GetNodeRequest* request,
                       egress::v1::Node* response) override;
  grpc::Status ListNodes(grpc::ServerContext* context, const egress::v1::ListNodesRequest* request,
                         egress::v1::ListNodesResponse* response) override;
  grpc::Status DeleteNode(grpc::ServerContext* context,
                          const egress::v1::DeleteNodeRequest* request,
                          egress::v1::DeleteNodeResponse* response) override;
  grpc::Status UpsertAccount(grpc::ServerContext* context,
                             const egress::v1::UpsertAccountRequest* request,
                             egress::v1::Account* response) override;
  grpc::Status GetAccount(grpc::ServerContext* context,
                          const egress::v1::GetAccountRequest* request,
                          egress::v1::Account* response) override;
  grpc::Status ListAccounts(grpc::ServerContext* context,
                            const egress::v1::ListAccountsRequest* request,
                            egress::v1::ListAccountsResponse* response) override;
  grpc::Status DeleteAccount(grpc::ServerContext* context,
                             const egress::v1::DeleteAccountRequest* request,
                             egress::v1::DeleteAccountResponse* response) override;
  grpc::Status LookupIp(grpc::ServerContext* context, const egress::v1::LookupIpRequest* request,
                        egress::v1::LookupIpResponse* response) override;

 private:
  // The admin caller, or UNAUTHENTICATED / PERMISSION_DENIED.
  absl::StatusOr<Caller> Admin(grpc::ServerContext* context) const;

  AccountsStore& store_;
  const Authorizer& authorizer_;
  Enrichment* const enrichment_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ACCOUNTS_SERVICE_H_
