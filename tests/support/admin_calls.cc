#include "tests/support/admin_calls.h"

#include "absl/strings/str_cat.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

absl::Status Checked(const char* call, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(call, ": ", static_cast<int>(status.error_code()), " ", status.error_message()));
}

}  // namespace

absl::Status UpsertNode(const std::shared_ptr<grpc::Channel>& channel, const std::string& node_id,
                        const std::string& server_ipv4) {
  egress::v1::UpsertNodeRequest request;
  request.mutable_node()->set_node_id(node_id);
  if (!server_ipv4.empty()) request.mutable_node()->set_server_ipv4(server_ipv4);
  egress::v1::Node out;
  grpc::ClientContext context;
  Authorize(&context, AdminToken());
  return Checked("UpsertNode", egress::v1::AccountsService::NewStub(channel)->UpsertNode(
                                   &context, request, &out));
}

absl::Status UpsertAccount(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& account_id, const std::string& node_id,
                           uint32_t uid) {
  egress::v1::UpsertAccountRequest request;
  request.mutable_account()->set_account_id(account_id);
  request.mutable_account()->set_node_id(node_id);
  request.mutable_account()->set_uid(uid);
  egress::v1::Account out;
  grpc::ClientContext context;
  Authorize(&context, AdminToken());
  return Checked("UpsertAccount", egress::v1::AccountsService::NewStub(channel)->UpsertAccount(
                                      &context, request, &out));
}

}  // namespace egress::testing
