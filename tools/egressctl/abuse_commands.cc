#include "tools/egressctl/abuse_commands.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/civil_day.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "tools/egressctl/accounts_commands.h"

namespace egress::ctl {
namespace {

namespace v1 = ::egress::v1;

int Usage(CommandContext& context, absl::string_view message) {
  *context.err << "egressctl: abuse: " << message << "\n(see egressctl --help)\n";
  return kExitUsage;
}

bool SetDate(const std::string& text, v1::Date* date, std::string* error) {
  absl::StatusOr<absl::CivilDay> day = ParseDay(text);
  if (!day.ok()) {
    *error = std::string(day.status().message());
    return false;
  }
  date->set_year(static_cast<int32_t>(day->year()));
  date->set_month(day->month());
  date->set_day(day->day());
  return true;
}

std::string Time(const google::protobuf::Timestamp& timestamp) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(timestamp.seconds()),
                          absl::UTCTimeZone());
}

int Find(const std::vector<std::string>& args, const CommandOptions& options,
         CommandContext& context) {
  if (args.size() != 2) return Usage(context, "find: expects one DESTINATION (IP or CIDR)");
  v1::FindConnectionsRequest request;
  request.set_destination(args[1]);
  const std::string protocol = absl::AsciiStrToLower(options.protocol);
  if (protocol == "tcp") {
    request.set_protocol(v1::PROTOCOL_TCP);
  } else if (protocol == "udp") {
    request.set_protocol(v1::PROTOCOL_UDP);
  } else if (protocol == "icmp") {
    request.set_protocol(v1::PROTOCOL_ICMP);
  } else if (protocol == "icmpv6") {
    request.set_protocol(v1::PROTOCOL_ICMPV6);
  } else if (!protocol.empty() && protocol != "any") {
    return Usage(context, "find: --protocol must be tcp, udp, icmp, icmpv6 or any");
  }
  if (options.port > 65535) return Usage(context, "find: --port must be 1..65535");
  if (options.port > 0) request.set_port(static_cast<uint32_t>(options.port));
  std::string error;
  if (!options.from.empty() && !SetDate(options.from, request.mutable_start_date(), &error)) {
    return Usage(context, absl::StrCat("find: --from: ", error));
  }
  if (!options.to.empty() && !SetDate(options.to, request.mutable_end_date(), &error)) {
    return Usage(context, absl::StrCat("find: --to: ", error));
  }
  request.set_egress_address(options.egress_address);
  request.set_page_size(1000);
  auto stub = v1::AbuseService::NewStub(context.channel);
  v1::FindConnectionsResponse all;
  do {
    v1::FindConnectionsResponse page;
    grpc::ClientContext client_context;
    PrepareClientContext(&client_context, context);
    grpc::Status status = stub->FindConnections(&client_context, request, &page);
    if (!status.ok()) return ReportRpcError(status, context);
    all.mutable_matches()->MergeFrom(page.matches());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (context.format == OutputFormat::kJson) {
    PrintJson(all, *context.out);
    *context.out << "\n";
    return kExitOk;
  }
  Table table{{"DATE", "ACCOUNT", "NODE", "EGRESS_ADDRESS", "ACTION", "COUNT", "DESTINATIONS",
               "FIRST_SEEN", "LAST_SEEN"},
              {}};
  for (const v1::AbuseMatch& m : all.matches()) {
    const std::string nodes = absl::StrJoin(m.node_ids(), ",");
    const std::string egress = absl::StrJoin(m.egress_addresses(), ",");
    table.rows.push_back(
        {FormatDay(absl::CivilDay(m.date().year(), m.date().month(), m.date().day())),
         m.account_id(), nodes.empty() ? "-" : nodes, egress.empty() ? "-" : egress,
         m.action() == v1::ACTION_ACCEPT ? "ACCEPT" : "REJECT", absl::StrCat(m.count()),
         absl::StrCat(m.destinations()), Time(m.first_seen()), Time(m.last_seen())});
  }
  PrintTable(table, *context.out);
  *context.out << all.matches_size() << " match(es)\n";
  return kExitOk;
}

}  // namespace

int RunAbuseCommand(const std::vector<std::string>& args, const CommandOptions& options,
                    CommandContext& context) {
  if (!args.empty() && args[0] == "find") return Find(args, options, context);
  return Usage(context, "expects a verb: find");
}

}  // namespace egress::ctl
