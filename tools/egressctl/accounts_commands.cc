#include "tools/egressctl/accounts_commands.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "grpcpp/client_context.h"

namespace egress::ctl {
namespace {

using egress::v1::AccountsService;

void PrintNodes(const std::vector<egress::v1::Node>& nodes, CommandContext& context) {
  if (context.format == OutputFormat::kJson) {
    egress::v1::ListNodesResponse all;
    for (const auto& node : nodes) *all.add_nodes() = node;
    PrintJson(all, *context.out);
    *context.out << "\n";
    return;
  }
  Table table{{"NODE", "SERVER_IPV4", "SERVER_IPV6", "EXEMPT", "ACCOUNTS", "RULES", "APPLIED"}, {}};
  for (const auto& node : nodes) {
    table.rows.push_back({node.node_id(), OrDash(node.server_ipv4()), OrDash(node.server_ipv6()),
                          OrDash(absl::StrJoin(node.exempt_networks(), ",")),
                          absl::StrCat(node.account_count()), absl::StrCat(node.rule_version()),
                          absl::StrCat(node.applied_rule_version())});
  }
  PrintTable(table, *context.out);
}

void PrintAccounts(const std::vector<egress::v1::Account>& accounts, CommandContext& context) {
  if (context.format == OutputFormat::kJson) {
    egress::v1::ListAccountsResponse all;
    for (const auto& account : accounts) *all.add_accounts() = account;
    PrintJson(all, *context.out);
    *context.out << "\n";
    return;
  }
  Table table{{"ACCOUNT", "NODE", "UID", "DEDICATED_IPS", "UPDATED"}, {}};
  for (const auto& account : accounts) {
    std::vector<std::string> ips;
    for (const auto& ip : account.dedicated_ips()) {
      ips.push_back(absl::StrCat(ip.ip(), "@", FormatTime(ip.order_time())));
    }
    table.rows.push_back({account.account_id(), account.node_id(), absl::StrCat(account.uid()),
                          OrDash(absl::StrJoin(ips, ",")), FormatTime(account.update_time())});
  }
  PrintTable(table, *context.out);
}

// "IP" or "IP@2024-05-01T10:00:00Z".
bool ParseDedicatedIp(const std::string& text, egress::v1::DedicatedIp* out, std::string* error) {
  const size_t at = text.find('@');
  out->set_ip(text.substr(0, at));
  absl::Time ordered = absl::Now();
  if (at != std::string::npos) {
    if (!absl::ParseTime(absl::RFC3339_full, text.substr(at + 1), &ordered, error)) {
      *error = absl::StrCat("--dedicated-ip ", text, ": order time is not RFC 3339: ", *error);
      return false;
    }
  }
  out->mutable_order_time()->set_seconds(absl::ToUnixSeconds(ordered));
  return true;
}

}  // namespace

int ReportRpcError(const grpc::Status& status, CommandContext& context) {
  static const char* const kCodeNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int code = status.error_code();
  const char* name = code >= 0 && code <= 16 ? kCodeNames[code] : "UNKNOWN";
  *context.err << "egressctl: " << name << ": " << status.error_message() << "\n";
  return kExitRpcError;
}

int RunNodesCommand(const std::vector<std::string>& args, const CommandOptions& options,
                    CommandContext& context) {
  if (args.empty()) return Usage(context, "nodes: missing verb (upsert, get, list, delete)");
  auto stub = AccountsService::NewStub(context.channel);
  const std::string& verb = args[0];
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  if (verb == "list") {
    std::vector<egress::v1::Node> nodes;
    std::string token;
    do {
      grpc::ClientContext page_context;
      PrepareClientContext(&page_context, context);
      egress::v1::ListNodesRequest request;
      request.set_page_size(1000);
      request.set_page_token(token);
      egress::v1::ListNodesResponse response;
      grpc::Status status = stub->ListNodes(&page_context, request, &response);
      if (!status.ok()) return ReportRpcError(status, context);
      nodes.insert(nodes.end(), response.nodes().begin(), response.nodes().end());
      token = response.next_page_token();
    } while (!token.empty());
    PrintNodes(nodes, context);
    return kExitOk;
  }
  if (args.size() != 2) return Usage(context, absl::StrCat("nodes ", verb, ": expects NODE_ID"));
  const std::string& node_id = args[1];
  if (verb == "upsert") {
    egress::v1::UpsertNodeRequest request;
    egress::v1::Node* node = request.mutable_node();
    node->set_node_id(node_id);
    node->set_server_ipv4(options.server_ipv4);
    node->set_server_ipv6(options.server_ipv6);
    for (const std::string& network : options.exempt) node->add_exempt_networks(network);
    egress::v1::Node response;
    grpc::Status status = stub->UpsertNode(&client_context, request, &response);
    if (!status.ok()) return ReportRpcError(status, context);
    PrintNodes({response}, context);
    return kExitOk;
  }
  if (verb == "get") {
    egress::v1::GetNodeRequest request;
    request.set_node_id(node_id);
    egress::v1::Node response;
    grpc::Status status = stub->GetNode(&client_context, request, &response);
    if (!status.ok()) return ReportRpcError(status, context);
    PrintNodes({response}, context);
    return kExitOk;
  }
  if (verb == "delete") {
    egress::v1::DeleteNodeRequest request;
    request.set_node_id(node_id);
    egress::v1::DeleteNodeResponse response;
    grpc::Status status = stub->DeleteNode(&client_context, request, &response);
    if (!status.ok()) return ReportRpcError(status, context);
    *context.out << "deleted node " << node_id << "\n";
    return kExitOk;
  }
  return Usage(context, absl::StrCat("nodes: unknown verb \"", verb, "\""));
}

int RunAccountsCommand(const std::vector<std::string>& args, const CommandOptions& options,
                       CommandContext& context) {
  if (args.empty()) return Usage(context, "accounts: missing verb (upsert, get, list, delete)");
  auto stub = AccountsService::NewStub(context.channel);
  const std::string& verb = args[0];
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  if (verb == "list") {
    std::vector<egress::v1::Account> accounts;
    std::string token;
    do {
      grpc::ClientContext page_context;
      PrepareClientContext(&page_context, context);
      egress::v1::ListAccountsRequest request;
      request.set_node_id(options.node);
      request.set_page_size(1000);
      request.set_page_token(token);
      egress::v1::ListAccountsResponse response;
      grpc::Status status = stub->ListAccounts(&page_context, request, &response);
      if (!status.ok()) return ReportRpcError(status, context);
      accounts.insert(accounts.end(), response.accounts().begin(), response.accounts().end());
      token = response.next_page_token();
    } while (!token.empty());
    PrintAccounts(accounts, context);
    return kExitOk;
  }
  if (args.size() != 2) {
    return Usage(context, absl::StrCat("accounts ", verb, ": expects ACCOUNT_ID"));
  }
  const std::string& account_id = args[1];
  if (verb == "upsert") {
    if (options.node.empty()) return Usage(context, "accounts upsert: --node is required");
    if (options.uid < 0) return Usage(context, "accounts upsert: --uid is required");
    egress::v1::UpsertAccountRequest request;
    egress::v1::Account* account = request.mutable_account();
    account->set_account_id(account_id);
    account->set_node_id(options.node);
    if (options.uid > 0xffffffffLL) return Usage(context, "accounts upsert: --uid is too large");
    account->set_uid(static_cast<uint32_t>(options.uid));
    for (const std::string& text : options.dedicated_ips) {
      std::string error;
      if (!ParseDedicatedIp(text, account->add_dedicated_ips(), &error)) {
        return Usage(context, error);
      }
    }
    egress::v1::Account response;
    grpc::Status status = stub->UpsertAccount(&client_context, request, &response);
    if (!status.ok()) return ReportRpcError(status, context);
    PrintAccounts({response}, context);
    return kExitOk;
  }
  if (verb == "get") {
    egress::v1::GetAccountRequest request;
    request.set_account_id(account_id);
    egress::v1::Account response;
    grpc::Status status = stub->GetAccount(&client_context, request, &response);
    if (!status.ok()) return ReportRpcError(status, context);
    PrintAccounts({response}, context);
    return kExitOk;
  }
  if (verb == "delete") {
    egress::v1::DeleteAccountRequest request;
    request.set_account_id(account_id);
    egress::v1::DeleteAccountResponse response;
    grpc::Status status = stub->DeleteAccount(&client_context, request, &response);
    if (!status.ok()) return ReportRpcError(status, context);
    *context.out << "deleted account " << account_id << "\n";
    return kExitOk;
  }
  return Usage(context, absl::StrCat("accounts: unknown verb \"", verb, "\""));
}

int RunLookupCommand(const std::vector<std::string>& args, const CommandOptions& options,
                     CommandContext& context) {
  if (args.size() != 1) return Usage(context, "lookup: expects one IP");
  auto stub = AccountsService::NewStub(context.channel);
  egress::v1::LookupIpRequest request;
  request.set_ip(args[0]);
  request.set_refresh(options.refresh);
  egress::v1::LookupIpResponse response;
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  grpc::Status status = stub->LookupIp(&client_context, request, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (context.format == OutputFormat::kJson) {
    PrintJson(response, *context.out);
    *context.out << "\n";
    return kExitOk;
  }
  const egress::v1::IpInfo& info = response.ip_info();
  Table table{
      {"IP", "STATUS", "PTR", "CONFIRMED", "ASN", "AS_NAME", "COUNTRY", "NETWORK", "EXPIRES"},
      {{response.ip(), egress::v1::IpInfo::Status_Name(info.status()), OrDash(info.ptr()),
        info.ptr_confirmed() ? "yes" : "no",
        info.asn() == 0 ? std::string("-") : absl::StrCat("AS", info.asn()), OrDash(info.as_name()),
        OrDash(info.country()), OrDash(info.network()), FormatTime(response.expire_time())}}};
  PrintTable(table, *context.out);
  return kExitOk;
}

}  // namespace egress::ctl
