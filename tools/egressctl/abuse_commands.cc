#include "tools/egressctl/abuse_commands.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/civil_day.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "tools/egressctl/accounts_commands.h"

namespace egress::ctl {
namespace {

namespace v1 = ::egress::v1;

int AbuseUsage(CommandContext& context, absl::string_view message) {
  return Usage(context, absl::StrCat("abuse: ", message));
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
  if (args.size() != 2) return AbuseUsage(context, "find: expects one DESTINATION (IP or CIDR)");
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
    return AbuseUsage(context, "find: --protocol must be tcp, udp, icmp, icmpv6 or any");
  }
  if (options.port > 65535) return AbuseUsage(context, "find: --port must be 1..65535");
  if (options.port > 0) request.set_port(static_cast<uint32_t>(options.port));
  std::string error;
  if (!options.from.empty() && !SetDate(options.from, request.mutable_start_date(), &error)) {
    return AbuseUsage(context, absl::StrCat("find: --from: ", error));
  }
  if (!options.to.empty() && !SetDate(options.to, request.mutable_end_date(), &error)) {
    return AbuseUsage(context, absl::StrCat("find: --to: ", error));
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

// "default" | "node NODE" | "account ACCOUNT" at args[2..]; returns how many
// arguments the scope took (0 on a usage error).
size_t ParseScope(const std::vector<std::string>& args, v1::AbusePolicyScope* scope,
                  std::string* node_id, std::string* account_id) {
  if (args.size() < 3) return 0;
  if (args[2] == "default") {
    *scope = v1::ABUSE_POLICY_SCOPE_DEFAULT;
    return 1;
  }
  if (args.size() < 4) return 0;
  if (args[2] == "node") {
    *scope = v1::ABUSE_POLICY_SCOPE_NODE;
    *node_id = args[3];
    return 2;
  }
  if (args[2] == "account") {
    *scope = v1::ABUSE_POLICY_SCOPE_ACCOUNT;
    *account_id = args[3];
    return 2;
  }
  return 0;
}

// Applies "key=value" to `policy` ("key=" unsets the key). The service
// checks ranges; here only the shape.
bool ApplySetting(const std::string& setting, v1::AbusePolicy* policy, std::string* error) {
  const size_t eq = setting.find('=');
  if (eq == std::string::npos) {
    *error = absl::StrCat("\"", setting, "\" is not KEY=VALUE");
    return false;
  }
  const std::string key = setting.substr(0, eq);
  const std::string value = setting.substr(eq + 1);
  auto number = [&](int64_t* out) {
    if (!absl::SimpleAtoi(value, out)) {
      *error = absl::StrCat(key, ": \"", value, "\" is not a number");
      return false;
    }
    return true;
  };
  auto list = [&](std::vector<uint32_t>* out) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      uint32_t n = 0;
      if (!absl::SimpleAtoi(part, &n)) {
        *error = absl::StrCat(key, ": \"", part, "\" is not a number");
        return false;
      }
      out->push_back(n);
    }
    return true;
  };
  int64_t n = 0;
  if (key == "enabled") {
    if (value.empty()) {
      policy->clear_enabled();
    } else if (value == "true" || value == "false") {
      policy->set_enabled(value == "true");
    } else {
      *error = "enabled: true or false";
      return false;
    }
  } else if (key == "smtp_max_connections" || key == "scan_max_destinations" ||
             key == "reject_max" || key == "lock_minutes") {
    if (value.empty()) {
      if (key == "smtp_max_connections") policy->clear_smtp_max_connections();
      if (key == "scan_max_destinations") policy->clear_scan_max_destinations();
      if (key == "reject_max") policy->clear_reject_max();
      if (key == "lock_minutes") policy->clear_lock_minutes();
      return true;
    }
    if (!number(&n)) return false;
    if (key == "smtp_max_connections") policy->set_smtp_max_connections(n);
    if (key == "scan_max_destinations") policy->set_scan_max_destinations(n);
    if (key == "reject_max") policy->set_reject_max(n);
    if (key == "lock_minutes") {
      if (n < INT32_MIN || n > INT32_MAX) {
        *error = "lock_minutes: out of range";
        return false;
      }
      policy->set_lock_minutes(static_cast<int32_t>(n));
    }
  } else if (key == "watched_ports" || key == "mail_server_uids") {
    // "KEY=" unsets (inherited); "KEY=none" sets an empty list.
    const bool ports = key == "watched_ports";
    if (ports) {
      policy->clear_watched_ports();
    } else {
      policy->clear_mail_server_uids();
    }
    if (value.empty()) return true;
    std::vector<uint32_t> values;
    if (value != "none" && !list(&values)) return false;
    if (ports) {
      v1::PortList* out = policy->mutable_watched_ports();
      for (uint32_t port : values) out->add_ports(port);
    } else {
      v1::UidList* out = policy->mutable_mail_server_uids();
      for (uint32_t uid : values) out->add_uids(uid);
    }
  } else if (key == "lock") {
    if (value.empty()) {
      policy->set_lock_action(v1::ABUSE_LOCK_ACTION_UNSPECIFIED);
    } else if (value == "alert") {
      policy->set_lock_action(v1::ABUSE_LOCK_ACTION_ALERT);
    } else if (value == "all") {
      policy->set_lock_action(v1::ABUSE_LOCK_ACTION_ALL);
    } else if (value == "port") {
      policy->set_lock_action(v1::ABUSE_LOCK_ACTION_PORT);
    } else {
      *error = "lock: alert, all or port";
      return false;
    }
  } else if (key == "webhook_url") {
    policy->set_webhook_url(value);
  } else {
    *error = absl::StrCat("unknown setting \"", key,
                          "\" (enabled, smtp_max_connections, scan_max_destinations, "
                          "reject_max, watched_ports, mail_server_uids, lock, lock_minutes, "
                          "webhook_url)");
    return false;
  }
  return true;
}

int PrintPolicy(const v1::GetAbusePolicyResponse& response, CommandContext& context) {
  if (context.format == OutputFormat::kJson) {
    PrintJson(response, *context.out);
    *context.out << "\n";
    return kExitOk;
  }
  const v1::AbusePolicy& own = response.policy();
  const v1::AbusePolicy& in_force = response.effective();
  auto ports = [](const v1::PortList& list) { return absl::StrJoin(list.ports(), ","); };
  auto action = [](v1::AbuseLockAction a) -> std::string {
    switch (a) {
      case v1::ABUSE_LOCK_ACTION_ALERT:
        return "alert";
      case v1::ABUSE_LOCK_ACTION_ALL:
        return "all";
      case v1::ABUSE_LOCK_ACTION_PORT:
        return "port";
      default:
        return "-";
    }
  };
  Table table{{"SETTING", "THIS_SCOPE", "IN_FORCE"}, {}};
  auto row = [&](const std::string& name, bool set, const std::string& mine,
                 const std::string& effective) {
    table.rows.push_back({name, set ? mine : "(inherited)", effective.empty() ? "-" : effective});
  };
  row("enabled", own.has_enabled(), own.enabled() ? "true" : "false",
      in_force.enabled() ? "true" : "false");
  row("smtp_max_connections", own.has_smtp_max_connections(),
      absl::StrCat(own.smtp_max_connections()), absl::StrCat(in_force.smtp_max_connections()));
  row("scan_max_destinations", own.has_scan_max_destinations(),
      absl::StrCat(own.scan_max_destinations()), absl::StrCat(in_force.scan_max_destinations()));
  row("reject_max", own.has_reject_max(), absl::StrCat(own.reject_max()),
      absl::StrCat(in_force.reject_max()));
  row("watched_ports", own.has_watched_ports(), ports(own.watched_ports()),
      ports(in_force.watched_ports()));
  row("mail_server_uids", own.has_mail_server_uids(),
      absl::StrJoin(own.mail_server_uids().uids(), ","),
      absl::StrJoin(in_force.mail_server_uids().uids(), ","));
  row("lock", own.lock_action() != v1::ABUSE_LOCK_ACTION_UNSPECIFIED, action(own.lock_action()),
      action(in_force.lock_action()));
  row("lock_minutes", own.has_lock_minutes(), absl::StrCat(own.lock_minutes()),
      absl::StrCat(in_force.lock_minutes()));
  row("webhook_url", own.has_webhook_url(), own.webhook_url(), in_force.webhook_url());
  PrintTable(table, *context.out);
  return kExitOk;
}

int Policy(const std::vector<std::string>& args, CommandContext& context) {
  if (args.size() < 3 || (args[1] != "get" && args[1] != "set")) {
    return AbuseUsage(context,
                      "policy: expects get|set default|node NODE|account ACCOUNT [KEY=VALUE ...]");
  }
  v1::AbusePolicyScope scope = v1::ABUSE_POLICY_SCOPE_UNSPECIFIED;
  std::string node_id, account_id;
  const size_t taken = ParseScope(args, &scope, &node_id, &account_id);
  if (taken == 0)
    return AbuseUsage(context, "policy: scope is default, node NODE or account ACCOUNT");
  auto stub = v1::AbuseService::NewStub(context.channel);
  v1::GetAbusePolicyRequest get;
  get.set_scope(scope);
  get.set_node_id(node_id);
  get.set_account_id(account_id);
  v1::GetAbusePolicyResponse current;
  {
    grpc::ClientContext client_context;
    PrepareClientContext(&client_context, context);
    grpc::Status status = stub->GetAbusePolicy(&client_context, get, &current);
    if (!status.ok()) return ReportRpcError(status, context);
  }
  if (args[1] == "get") {
    if (args.size() != 2 + taken) return AbuseUsage(context, "policy get: no KEY=VALUE expected");
    return PrintPolicy(current, context);
  }
  if (args.size() == 2 + taken) return AbuseUsage(context, "policy set: expects KEY=VALUE ...");
  // The scope's settings change only where named; the rest stay.
  v1::SetAbusePolicyRequest set;
  set.set_scope(scope);
  set.set_node_id(node_id);
  set.set_account_id(account_id);
  *set.mutable_policy() = current.policy();
  for (size_t i = 2 + taken; i < args.size(); ++i) {
    std::string error;
    if (!ApplySetting(args[i], set.mutable_policy(), &error)) {
      return AbuseUsage(context, absl::StrCat("policy set: ", error));
    }
  }
  v1::GetAbusePolicyResponse updated;
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  grpc::Status status = stub->SetAbusePolicy(&client_context, set, &updated);
  if (!status.ok()) return ReportRpcError(status, context);
  return PrintPolicy(updated, context);
}

int Lift(const std::vector<std::string>& args, const CommandOptions& options,
         CommandContext& context) {
  if (args.size() != 2) return AbuseUsage(context, "lift: expects ACCOUNT and --note=WHY");
  v1::LiftAbuseLockRequest request;
  request.set_account_id(args[1]);
  request.set_note(options.note);
  v1::AccountStatus status;
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  grpc::Status result =
      v1::AbuseService::NewStub(context.channel)->LiftAbuseLock(&client_context, request, &status);
  if (!result.ok()) return ReportRpcError(result, context);
  if (context.format == OutputFormat::kJson) {
    PrintJson(status, *context.out);
    *context.out << "\n";
  } else {
    *context.out << "abuse lock of " << args[1] << " lifted\n";
  }
  return kExitOk;
}

// abuse lock ACCOUNT REASON [PORT...] [--until=RFC3339]: support's lock by hand.
int Lock(const std::vector<std::string>& args, const CommandOptions& options,
         CommandContext& context) {
  if (args.size() < 3)
    return AbuseUsage(context, "lock: expects ACCOUNT, REASON and optional PORTs");
  v1::SetAbuseLockRequest request;
  request.set_account_id(args[1]);
  request.set_reason(args[2]);
  for (size_t i = 3; i < args.size(); ++i) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(args[i], &port)) {
      return AbuseUsage(context, absl::StrCat("lock: \"", args[i], "\" is not a port"));
    }
    request.add_ports(port);
  }
  if (!options.until.empty()) {
    absl::Time until;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, options.until, &until, &error)) {
      return AbuseUsage(context, absl::StrCat("lock: --until: ", error));
    }
    request.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(until));
  }
  v1::AccountStatus status;
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  grpc::Status result =
      v1::AbuseService::NewStub(context.channel)->SetAbuseLock(&client_context, request, &status);
  if (!result.ok()) return ReportRpcError(result, context);
  if (context.format == OutputFormat::kJson) {
    PrintJson(status, *context.out);
    *context.out << "\n";
  } else {
    *context.out << "abuse lock of " << args[1] << " set ("
                 << (request.ports().empty()
                         ? std::string("every port")
                         : absl::StrCat("ports ", absl::StrJoin(request.ports(), ",")))
                 << ")\n";
  }
  return kExitOk;
}

int Incidents(const std::vector<std::string>& args, CommandContext& context) {
  if (args.size() != 2) return AbuseUsage(context, "incidents: expects ACCOUNT");
  v1::ListAbuseIncidentsRequest request;
  request.set_account_id(args[1]);
  v1::ListAbuseIncidentsResponse response;
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  grpc::Status result = v1::AbuseService::NewStub(context.channel)
                            ->ListAbuseIncidents(&client_context, request, &response);
  if (!result.ok()) return ReportRpcError(result, context);
  if (context.format == OutputFormat::kJson) {
    PrintJson(response, *context.out);
    *context.out << "\n";
    return kExitOk;
  }
  Table table{{"ID", "KIND", "NODE", "OPENED", "LAST_SEEN", "CLOSED", "DETAIL"}, {}};
  for (const v1::AbuseIncident& i : response.incidents()) {
    table.rows.push_back({absl::StrCat(i.incident_id()), i.kind(), i.node_id(), Time(i.open_time()),
                          Time(i.last_seen_time()),
                          i.has_close_time()
                              ? absl::StrCat(Time(i.close_time()), " (", i.closed_why(), ")")
                              : "open",
                          i.detail()});
  }
  PrintTable(table, *context.out);
  return kExitOk;
}

}  // namespace

int RunAbuseCommand(const std::vector<std::string>& args, const CommandOptions& options,
                    CommandContext& context) {
  if (!args.empty() && args[0] == "find") return Find(args, options, context);
  if (!args.empty() && args[0] == "policy") return Policy(args, context);
  if (!args.empty() && args[0] == "lift") return Lift(args, options, context);
  if (!args.empty() && args[0] == "lock") return Lock(args, options, context);
  if (!args.empty() && args[0] == "incidents") return Incidents(args, context);
  return AbuseUsage(context, "expects a verb: find, policy, lock, lift or incidents");
}

}  // namespace egress::ctl
