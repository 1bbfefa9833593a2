#include "tools/egressctl/commands.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "service/auth/token.h"
#include "tools/egressctl/abuse_commands.h"
#include "tools/egressctl/accounts_commands.h"
#include "tools/egressctl/connections_commands.h"
#include "tools/egressctl/reflection_client.h"

namespace egress::ctl {

int Usage(CommandContext& context, absl::string_view message) {
  *context.err << "egressctl: " << message << "\n(see egressctl --help)\n";
  return kExitUsage;
}

std::string FormatTime(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(timestamp.seconds()),
                          absl::UTCTimeZone());
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

const char kCommandsHelp[] = R"(Commands:
  nodes upsert NODE_ID [--server-ipv4=IP] [--server-ipv6=IP] [--exempt=CIDR,...]
  nodes get NODE_ID | nodes list | nodes delete NODE_ID
  accounts upsert ACCOUNT_ID --node=NODE_ID --uid=UID [--dedicated-ip=IP[@RFC3339],...]
  accounts get ACCOUNT_ID | accounts list [--node=NODE_ID] | accounts delete ACCOUNT_ID
  token --secret-file=F --scope=panel|admin|antivirus|node [--ttl=24h] SUBJECT
                         mint a token offline (SUBJECT: account, node or service name)
  status ACCOUNT         locks, egress addresses and rule enforcement of the account
  block ACCOUNT IP|CIDR [--protocol=tcp|udp|any] [--port=N] [--note=TEXT]
        [--expire-in=DURATION | --expire-at=RFC3339]
                         block a destination (any protocol with a port: tcp and udp),
                         for a while or until unblocked
  unblock ACCOUNT RULE_ID...      delete block rules (all or none)
  block-all ACCOUNT on|off        the account's manual "block all outgoing connections" lock
  rules ACCOUNT | audit ACCOUNT   block rules / changes to rules and locks, newest first
  dates ACCOUNT          dates with recorded connections, newest first
  connections ACCOUNT YYYY-MM-DD [--filter=IP|CIDR|PREFIX] [--action=accept|reject]
                         [--order-by=count|ip|port|last-seen] [--reverse]
  export ACCOUNT YYYY-MM-DD [the same flags as connections]
                         the same rows as CSV on standard output, streamed (RFC 4180;
                         format in proto/egress/v1/connections.proto); raise --timeout
                         for very large days
  report-scan ACCOUNT SCAN_ID [--threat=PATH:SIGNATURE,...] [PATH:SIGNATURE ...]
                         [--finished=RFC3339]   report an antivirus scan (antivirus token)
  report-scan ACCOUNT SCAN_ID --report=FILE|- [--report-format=auto|clamscan|json]
                         [--report-base=HOME] [--finished=RFC3339]
                         the threats of a scanner's report: `clamscan --infected` output or
                         JSON [{"path": ..., "signature": ...}] (or {"threats": [...]});
                         no threat is a clean scan; paths under HOME become relative
  abuse find IP|CIDR [--protocol=tcp|udp|icmp|icmpv6] [--port=N] [--from=YYYY-MM-DD]
                         [--to=YYYY-MM-DD] [--egress-address=IP]
                         which accounts connected there (default: the last 30 days), per
                         day and action, with their node and egress address (admin token)
  abuse policy get default|node NODE|account ACCOUNT
  abuse policy set default|node NODE|account ACCOUNT KEY=VALUE...
                         detection thresholds of one scope (unset: inherited); keys:
                         enabled, smtp_max_connections, scan_max_destinations, reject_max,
                         watched_ports=P,P, mail_server_uids=U,U, lock=alert|all|port,
                         lock_minutes (0: until lifted), webhook_url (default scope);
                         KEY= unsets it, watched_ports=none sets no port (admin token)
  abuse incidents ACCOUNT  the account's abuse incidents, newest first (admin token)
  abuse lock ACCOUNT REASON [PORT...] [--until=RFC3339]
                         the abuse lock by hand: every port, or only PORTs (admin token)
  abuse lift ACCOUNT --note=WHY  lift the abuse lock (support only, with a note)
  lookup IP [--refresh]  PTR and owner of an address (--refresh: look it up again now)
  health                 the server's gRPC health status
  services               the services the server lists through gRPC reflection
Exit status: 0 ok, 1 the server refused or failed the call, 2 bad usage or a malformed report.)";

void PrepareClientContext(grpc::ClientContext* client_context, const CommandContext& context) {
  client_context->set_deadline(absl::ToChronoTime(absl::Now() + context.timeout));
  if (!context.token.empty()) {
    client_context->AddMetadata("authorization", absl::StrCat("Bearer ", context.token));
  }
}

namespace {

int RunTokenCommand(const std::vector<std::string>& args, const CommandOptions& options,
                    CommandContext& context) {
  if (args.size() != 1 || options.secret_file.empty() || options.scope.empty()) {
    *context.err << "egressctl: token: expects --secret-file, --scope and one SUBJECT\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<TokenSigner>> signer = TokenSigner::FromFile(options.secret_file);
  if (!signer.ok()) {
    *context.err << "egressctl: token: " << signer.status().message() << "\n";
    return kExitUsage;
  }
  Claims claims{args[0], {}, absl::Now() + options.ttl};
  for (absl::string_view name :
       absl::StrSplit(options.scope, absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
    Scope scope;
    if (ParseScope(name, &scope)) {
      claims.scopes.insert(scope);
    } else {
      *context.err << "egressctl: token: unknown scope \"" << name
                   << "\" (panel, admin, antivirus, node)\n";
      return kExitUsage;
    }
  }
  absl::StatusOr<std::string> token = (*signer)->Sign(claims);
  if (!token.ok()) {
    *context.err << "egressctl: token: " << token.status().message() << "\n";
    return kExitUsage;
  }
  *context.out << *token << "\n";
  return kExitOk;
}

}  // namespace

int RunCommand(const std::vector<std::string>& args, const CommandOptions& options,
               CommandContext& context) {
  if (args.empty()) {
    *context.err << "egressctl: missing command\n" << kCommandsHelp << "\n";
    return kExitUsage;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& group = args[0];
  if (group == "nodes") return RunNodesCommand(rest, options, context);
  if (group == "accounts") return RunAccountsCommand(rest, options, context);
  if (group == "abuse") return RunAbuseCommand(rest, options, context);
  if (group == "token") return RunTokenCommand(rest, options, context);
  if (group == "lookup") return RunLookupCommand(rest, options, context);
  if (IsConnectionsCommand(group)) return RunConnectionsCommand(args, options, context);
  if (group == "health") {
    absl::StatusOr<std::string> health = CheckHealth(context.channel, "", context.timeout);
    if (!health.ok()) return ReportRpcError(ToGrpcStatus(health.status()), context);
    *context.out << *health << "\n";
    return *health == "SERVING" ? kExitOk : kExitRpcError;
  }
  if (group == "services") {
    absl::StatusOr<std::vector<std::string>> services =
        ListServicesByReflection(context.channel, context.timeout);
    if (!services.ok()) return ReportRpcError(ToGrpcStatus(services.status()), context);
    for (const std::string& service : *services) *context.out << service << "\n";
    return kExitOk;
  }
  *context.err << "egressctl: unknown command \"" << group << "\"\n" << kCommandsHelp << "\n";
  return kExitUsage;
}

}  // namespace egress::ctl
