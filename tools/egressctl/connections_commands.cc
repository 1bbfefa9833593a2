#include "tools/egressctl/connections_commands.h"

#include <fstream>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/protocol_proto.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "tools/egressctl/accounts_commands.h"
#include "tools/egressctl/scan_report.h"

namespace egress::ctl {
namespace {

namespace v1 = ::egress::v1;

// The service's limit of threats per report (kMaxThreats in
// service/connections_validation.h): one threat is enough to lock.
constexpr size_t kMaxReportedThreats = 10000;

const std::set<std::string>& Verbs() {
  static const auto* const kVerbs =
      new std::set<std::string>{"status",      "block",  "unblock", "block-all", "rules",
                                "connections", "export", "dates",   "audit",     "report-scan"};
  return *kVerbs;
}

// Keeps a table row on one line; the text is otherwise shown as is.
std::string OneLine(const std::string& text) {
  return absl::StrReplaceAll(text, {{"\n", "\\n"}, {"\r", "\\r"}, {"\t", "\\t"}});
}

std::string FormatDate(const v1::Date& date) {
  return FormatDay(absl::CivilDay(date.year(), date.month(), date.day()));
}

std::string ProtocolText(v1::Protocol protocol) {
  const std::optional<Protocol> known = ProtocolFromProto(protocol);
  return known.has_value() ? std::string(ProtocolName(*known)) : "?";
}

// "ptr (AS64500 Name, NL)" or "-".
std::string Owner(const v1::IpInfo& info) {
  std::string owner = info.ptr();
  if (info.asn() != 0 || !info.as_name().empty()) {
    absl::StrAppend(&owner, owner.empty() ? "" : " ", "(AS", info.asn(), " ", info.as_name(),
                    info.country().empty() ? "" : ", ", info.country(), ")");
  }
  if (owner.empty() && info.status() == v1::IpInfo::IP_INFO_STATUS_PENDING) return "(pending)";
  return OrDash(owner);
}

bool PrintIfJson(const google::protobuf::Message& message, CommandContext& context) {
  if (context.format != OutputFormat::kJson) return false;
  PrintJson(message, *context.out);
  *context.out << "\n";
  return true;
}

void PrintStatus(const v1::AccountStatus& status, CommandContext& context) {
  Table summary{{"ACCOUNT", "NODE", "ALL_BLOCKED", "EGRESS_IPV4", "EGRESS_IPV6", "RULE_VERSION",
                 "APPLIED", "ENFORCED"},
                {}};
  summary.rows.push_back(
      {status.account_id(), status.node_id(), status.all_blocked() ? "yes" : "no",
       status.egress_ipv4().empty()
           ? "-"
           : absl::StrCat(status.egress_ipv4(), " ", Owner(status.egress_ipv4_info())),
       status.egress_ipv6().empty()
           ? "-"
           : absl::StrCat(status.egress_ipv6(), " ", Owner(status.egress_ipv6_info())),
       absl::StrCat(status.rule_version()), absl::StrCat(status.applied_rule_version()),
       status.enforced() ? "yes" : "no"});
  PrintTable(summary, *context.out);
  if (status.locks_size() == 0) return;
  *context.out << "\n";
  Table locks{{"LOCK", "SINCE", "SET_BY", "REASON"}, {}};
  for (const v1::Lock& lock : status.locks()) {
    locks.rows.push_back({lock.kind() == v1::LOCK_KIND_MANUAL ? "manual" : "antivirus",
                          FormatTime(lock.since()), lock.set_by(), lock.reason()});
  }
  PrintTable(locks, *context.out);
}

void PrintRules(const std::vector<v1::BlockRule>& rules, CommandContext& context) {
  Table table{
      {"RULE", "NETWORK", "OWNER", "PROTOCOL", "PORT", "NOTE", "CREATED", "CREATED_BY", "EXPIRES"},
      {}};
  for (const v1::BlockRule& rule : rules) {
    table.rows.push_back(
        {absl::StrCat(rule.rule_id()), rule.network(), Owner(rule.ip_info()),
         ProtocolText(rule.protocol()), rule.port() == 0 ? "any" : absl::StrCat(rule.port()),
         OrDash(OneLine(rule.note())), FormatTime(rule.create_time()), rule.created_by(),
         rule.has_expire_time() ? FormatTime(rule.expire_time()) : "never"});
  }
  PrintTable(table, *context.out);
}

template <typename Response, typename Fn>
grpc::Status Invoke(CommandContext& context, Fn call, Response* response) {
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  return call(&client_context, response);
}

bool ParseProtocolFlag(const std::string& text, v1::Protocol* protocol) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower.empty() || lower == "any") {
    *protocol = v1::PROTOCOL_ANY;
  } else if (lower == "tcp") {
    *protocol = v1::PROTOCOL_TCP;
  } else if (lower == "udp") {
    *protocol = v1::PROTOCOL_UDP;
  } else {
    return false;
  }
  return true;
}

int Status(const std::string& account, CommandContext& context) {
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::GetAccountStatusRequest request;
  request.set_account_id(account);
  v1::AccountStatus response;
  grpc::Status status = Invoke(
      context, [&](auto* c, auto* r) { return stub->GetAccountStatus(c, request, r); }, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (!PrintIfJson(response, context)) PrintStatus(response, context);
  return kExitOk;
}

int Block(const std::vector<std::string>& args, const CommandOptions& options,
          CommandContext& context) {
  if (args.size() != 3) return Usage(context, "block: expects ACCOUNT DESTINATION");
  v1::BlockDestinationRequest request;
  request.set_account_id(args[1]);
  request.set_destination(args[2]);
  v1::Protocol protocol;
  if (!ParseProtocolFlag(options.protocol, &protocol)) {
    return Usage(context, "block: --protocol must be tcp, udp or any");
  }
  request.set_protocol(protocol);
  if (options.port < -1 || options.port > 65535) {
    return Usage(context, "block: --port must be 1..65535 (or 0 / omitted for every port)");
  }
  request.set_port(options.port < 0 ? 0 : static_cast<uint32_t>(options.port));
  request.set_note(options.note);
  if (options.expire_in != absl::ZeroDuration() && !options.expire_at.empty()) {
    return Usage(context, "block: give --expire-in or --expire-at, not both");
  }
  std::optional<absl::Time> expiry;
  if (options.expire_in < absl::ZeroDuration()) {
    return Usage(context, "block: --expire-in must be a positive duration, e.g. 1h");
  }
  if (options.expire_in > absl::ZeroDuration()) expiry = absl::Now() + options.expire_in;
  if (!options.expire_at.empty()) {
    absl::Time at;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, options.expire_at, &at, &error)) {
      return Usage(context, absl::StrCat("block: --expire-at: ", error));
    }
    expiry = at;
  }
  if (expiry.has_value()) {
    const int64_t micros = absl::ToUnixMicros(*expiry);
    request.mutable_expire_time()->set_seconds(micros / 1000000);
    request.mutable_expire_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  }
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::BlockRule response;
  grpc::Status status = Invoke(
      context, [&](auto* c, auto* r) { return stub->BlockDestination(c, request, r); }, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (!PrintIfJson(response, context)) PrintRules({response}, context);
  return kExitOk;
}

int Unblock(const std::vector<std::string>& args, CommandContext& context) {
  if (args.size() < 3) return Usage(context, "unblock: expects ACCOUNT RULE_ID...");
  v1::DeleteBlockRulesRequest request;
  request.set_account_id(args[1]);
  for (size_t i = 2; i < args.size(); ++i) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(args[i], &id)) {
      return Usage(context,
                   absl::StrCat("unblock: \"", absl::CEscape(args[i]), "\" is not a rule id"));
    }
    request.add_rule_ids(id);
  }
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::DeleteBlockRulesResponse response;
  grpc::Status status = Invoke(
      context, [&](auto* c, auto* r) { return stub->DeleteBlockRules(c, request, r); }, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (!PrintIfJson(response, context)) {
    *context.out << "deleted " << response.deleted() << " rule(s); rule version "
                 << response.rule_version() << "\n";
  }
  return kExitOk;
}

int BlockAll(const std::vector<std::string>& args, CommandContext& context) {
  if (args.size() != 3 || (args[2] != "on" && args[2] != "off")) {
    return Usage(context, "block-all: expects ACCOUNT on|off");
  }
  v1::SetBlockAllRequest request;
  request.set_account_id(args[1]);
  request.set_enabled(args[2] == "on");
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::AccountStatus response;
  grpc::Status status = Invoke(
      context, [&](auto* c, auto* r) { return stub->SetBlockAll(c, request, r); }, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (!PrintIfJson(response, context)) PrintStatus(response, context);
  return kExitOk;
}

int Rules(const std::string& account, CommandContext& context) {
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::ListBlockRulesResponse all;
  v1::ListBlockRulesRequest request;
  request.set_account_id(account);
  request.set_page_size(1000);
  do {
    v1::ListBlockRulesResponse page;
    grpc::Status status = Invoke(
        context, [&](auto* c, auto* r) { return stub->ListBlockRules(c, request, r); }, &page);
    if (!status.ok()) return ReportRpcError(status, context);
    all.mutable_rules()->MergeFrom(page.rules());
    all.set_total_rules(page.total_rules());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (!PrintIfJson(all, context)) {
    PrintRules(std::vector<v1::BlockRule>(all.rules().begin(), all.rules().end()), context);
  }
  return kExitOk;
}

int Dates(const std::string& account, CommandContext& context) {
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::ListDatesRequest request;
  request.set_account_id(account);
  v1::ListDatesResponse response;
  grpc::Status status = Invoke(
      context, [&](auto* c, auto* r) { return stub->ListDates(c, request, r); }, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (PrintIfJson(response, context)) return kExitOk;
  Table table{{"DATE", "ACCEPTED", "REJECTED", "COMPLETE"}, {}};
  for (const v1::DateSummary& day : response.dates()) {
    table.rows.push_back({FormatDate(day.date()), absl::StrCat(day.accepted()),
                          absl::StrCat(day.rejected()),
                          day.incomplete() ? "no (events lost: counts are a lower bound)" : "yes"});
  }
  PrintTable(table, *context.out);
  return kExitOk;
}

// The list's filters from ACCOUNT DATE and the flags, for `connections` and
// `export`; kExitOk, or kExitUsage after printing why.
int ListRequestFromArgs(const std::vector<std::string>& args, const CommandOptions& options,
                        CommandContext& context, v1::ListConnectionsRequest* out) {
  const std::string& verb = args[0];
  if (args.size() != 3)
    return Usage(context, absl::StrCat(verb, ": expects ACCOUNT DATE (YYYY-MM-DD)"));
  absl::StatusOr<absl::CivilDay> day = ParseDay(args[2]);
  if (!day.ok()) return Usage(context, absl::StrCat(verb, ": DATE: ", day.status().message()));
  v1::ListConnectionsRequest& request = *out;
  request.set_account_id(args[1]);
  request.mutable_date()->set_year(static_cast<int32_t>(day->year()));
  request.mutable_date()->set_month(day->month());
  request.mutable_date()->set_day(day->day());
  request.set_ip_filter(options.filter);
  const std::string action = absl::AsciiStrToLower(options.action);
  if (action == "accept") {
    request.set_action(v1::ACTION_ACCEPT);
  } else if (action == "reject") {
    request.set_action(v1::ACTION_REJECT);
  } else if (!action.empty()) {
    return Usage(context, absl::StrCat(verb, ": --action must be accept or reject"));
  }
  const std::string order = absl::AsciiStrToLower(options.order_by);
  if (order == "ip") {
    request.set_order_by(v1::ListConnectionsRequest::ORDER_BY_IP);
  } else if (order == "port") {
    request.set_order_by(v1::ListConnectionsRequest::ORDER_BY_PORT);
  } else if (order == "last-seen" || order == "last_seen") {
    request.set_order_by(v1::ListConnectionsRequest::ORDER_BY_LAST_SEEN);
  } else if (order == "count" || order.empty()) {
    request.set_order_by(v1::ListConnectionsRequest::ORDER_BY_COUNT);
  } else {
    return Usage(context, absl::StrCat(verb, ": --order-by must be count, ip, port or last-seen"));
  }
  request.set_reverse(options.reverse);
  return kExitOk;
}

int Connections(const std::vector<std::string>& args, const CommandOptions& options,
                CommandContext& context) {
  v1::ListConnectionsRequest request;
  if (int usage = ListRequestFromArgs(args, options, context, &request); usage != kExitOk) {
    return usage;
  }
  request.set_page_size(1000);
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::ListConnectionsResponse all;
  do {
    v1::ListConnectionsResponse page;
    grpc::Status status = Invoke(
        context, [&](auto* c, auto* r) { return stub->ListConnections(c, request, r); }, &page);
    if (!status.ok()) return ReportRpcError(status, context);
    all.mutable_connections()->MergeFrom(page.connections());
    all.set_total_rows(page.total_rows());
    all.set_incomplete(page.incomplete());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (PrintIfJson(all, context)) return kExitOk;
  Table table{{"IP", "OWNER", "PROTOCOL", "PORT", "ACTION", "COUNT", "LAST_SEEN", "BLOCKED_BY"},
              {}};
  for (const v1::Connection& c : all.connections()) {
    table.rows.push_back(
        {c.ip(), Owner(c.ip_info()), ProtocolText(c.protocol()), absl::StrCat(c.port()),
         c.action() == v1::ACTION_ACCEPT ? "ACCEPT" : "REJECT", absl::StrCat(c.count()),
         FormatTime(c.last_seen()), OrDash(absl::StrJoin(c.blocking_rule_ids(), ","))});
  }
  PrintTable(table, *context.out);
  *context.out << all.total_rows() << " row(s)"
               << (all.incomplete() ? "; events were lost that day: counts are a lower bound" : "")
               << "\n";
  return kExitOk;
}

// The CSV of ExportConnections to the output as it streams in (the bytes
// as the service made them, whatever --output says); --timeout bounds the
// whole export.
int Export(const std::vector<std::string>& args, const CommandOptions& options,
           CommandContext& context) {
  v1::ListConnectionsRequest list;
  if (int usage = ListRequestFromArgs(args, options, context, &list); usage != kExitOk) {
    return usage;
  }
  v1::ExportConnectionsRequest request;
  request.set_account_id(list.account_id());
  *request.mutable_date() = list.date();
  request.set_ip_filter(list.ip_filter());
  request.set_action(list.action());
  request.set_order_by(list.order_by());
  request.set_reverse(list.reverse());
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  grpc::ClientContext client_context;
  PrepareClientContext(&client_context, context);
  std::unique_ptr<grpc::ClientReader<v1::ExportConnectionsChunk>> reader =
      stub->ExportConnections(&client_context, request);
  v1::ExportConnectionsChunk chunk;
  while (reader->Read(&chunk)) context.out->write(chunk.csv().data(), chunk.csv().size());
  context.out->flush();
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ReportRpcError(status, context);
  return kExitOk;
}

int Audit(const std::string& account, CommandContext& context) {
  auto stub = v1::ConnectionsService::NewStub(context.channel);
  v1::ListAuditEventsRequest request;
  request.set_account_id(account);
  request.set_page_size(1000);
  v1::ListAuditEventsResponse all;
  do {
    v1::ListAuditEventsResponse page;
    grpc::Status status = Invoke(
        context, [&](auto* c, auto* r) { return stub->ListAuditEvents(c, request, r); }, &page);
    if (!status.ok()) return ReportRpcError(status, context);
    all.mutable_events()->MergeFrom(page.events());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  if (PrintIfJson(all, context)) return kExitOk;
  Table table{{"EVENT", "TIME", "ACTOR", "ACTION", "BEFORE", "AFTER"}, {}};
  for (const v1::AuditEvent& event : all.events()) {
    table.rows.push_back({absl::StrCat(event.event_id()), FormatTime(event.time()), event.actor(),
                          event.action(), OrDash(event.before_json()), OrDash(event.after_json())});
  }
  PrintTable(table, *context.out);
  return kExitOk;
}

// "path:signature"; the path may itself contain ':' (the last one splits).
bool ParseThreat(const std::string& text, v1::Threat* threat) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  threat->set_path(text.substr(0, colon));
  threat->set_signature(text.substr(colon + 1));
  return true;
}

// Reads --report (a file, or "-": standard input) into the request's
// threats; kExitOk, or kExitUsage after saying why on stderr (nothing sent).
int AddReportThreats(const CommandOptions& options, CommandContext& context,
                     v1::ReportScanRequest* request) {
  absl::StatusOr<ScanReportFormat> format = ParseScanReportFormat(options.report_format);
  if (!format.ok()) return Usage(context, absl::StrCat("report-scan: ", format.status().message()));
  std::string text;
  // A report of 10,000 threats is about 2 MB; anything far larger is not one.
  constexpr size_t kMaxReportBytes = 64 << 20;
  std::ifstream file;
  std::istream* in = context.in;
  if (options.report != "-") {
    file.open(options.report, std::ios::binary);
    in = &file;
  }
  if (in == nullptr || !*in) {
    return Usage(context, absl::StrCat("report-scan: --report: cannot read ", options.report));
  }
  char buffer[1 << 16];
  while (in->read(buffer, sizeof(buffer)) || in->gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in->gcount()));
    if (text.size() > kMaxReportBytes) {
      return Usage(context, absl::StrCat("report-scan: --report: ", options.report,
                                         " is larger than 64 MiB: not a scan report"));
    }
  }
  if (in->bad()) {
    return Usage(context, absl::StrCat("report-scan: --report: cannot read ", options.report));
  }
  absl::StatusOr<ParsedScanReport> report = ParseScanReport(text, *format);
  if (!report.ok()) {
    *context.err << "egressctl: report-scan: " << options.report << ": "
                 << report.status().message() << "\nnothing was reported\n";
    return kExitUsage;
  }
  if (report->scan_errors > 0) {
    *context.err << "egressctl: report-scan: warning: the scanner could not read "
                 << report->scan_errors << " file(s) (first: " << report->first_scan_error
                 << "); reporting what it found\n";
  }
  size_t kept = report->threats.size();
  if (kept > kMaxReportedThreats) {
    kept = kMaxReportedThreats;
    *context.err << "egressctl: report-scan: warning: the report lists " << report->threats.size()
                 << " threats; sending the first " << kept << " (the service keeps at most "
                 << kMaxReportedThreats << ")\n";
  }
  for (size_t i = 0; i < kept; ++i) {
    v1::Threat* threat = request->add_threats();
    threat->set_path(RelativeToBase(report->threats[i].path, options.report_base));
    threat->set_signature(report->threats[i].signature);
  }
  return kExitOk;
}

int ReportScan(const std::vector<std::string>& args, const CommandOptions& options,
               CommandContext& context) {
  if (args.size() < 3) {
    return Usage(context, "report-scan: expects ACCOUNT SCAN_ID [PATH:SIGNATURE ...]");
  }
  v1::ReportScanRequest request;
  request.set_account_id(args[1]);
  request.set_scan_id(args[2]);
  absl::Time finished = absl::Now();
  if (!options.finished.empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, options.finished, &finished, &error)) {
      return Usage(context, absl::StrCat("report-scan: --finished is not RFC 3339: ", error));
    }
  }
  request.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(finished));
  std::vector<std::string> threats = options.threats;
  threats.insert(threats.end(), args.begin() + 3, args.end());
  if (!options.report.empty()) {
    if (!threats.empty()) {
      return Usage(context, "report-scan: give threats on the command line or --report, not both");
    }
    if (const int code = AddReportThreats(options, context, &request); code != kExitOk) return code;
  }
  for (const std::string& text : threats) {
    if (!ParseThreat(text, request.add_threats())) {
      return Usage(context, absl::StrCat("report-scan: threat \"", absl::CEscape(text),
                                         "\" is not PATH:SIGNATURE"));
    }
    request.mutable_threats()->rbegin()->set_path(
        RelativeToBase(request.threats().rbegin()->path(), options.report_base));
  }
  auto stub = v1::AntivirusService::NewStub(context.channel);
  v1::ReportScanResponse response;
  grpc::Status status = Invoke(
      context, [&](auto* c, auto* r) { return stub->ReportScan(c, request, r); }, &response);
  if (!status.ok()) return ReportRpcError(status, context);
  if (PrintIfJson(response, context)) return kExitOk;
  if (response.stale()) {
    *context.out << "scan " << request.scan_id()
                 << " finished before the newest scan reported: recorded, nothing changed\n";
  }
  PrintStatus(response.status(), context);
  return kExitOk;
}

}  // namespace

bool IsConnectionsCommand(const std::string& verb) { return Verbs().count(verb) > 0; }

int RunConnectionsCommand(const std::vector<std::string>& args, const CommandOptions& options,
                          CommandContext& context) {
  if (args.empty() || !IsConnectionsCommand(args[0])) {
    return Usage(context, "unknown connections command");
  }
  const std::string& verb = args[0];
  if (args.size() < 2) return Usage(context, absl::StrCat(verb, ": expects ACCOUNT"));
  if (verb == "block") return Block(args, options, context);
  if (verb == "unblock") return Unblock(args, context);
  if (verb == "block-all") return BlockAll(args, context);
  if (verb == "connections") return Connections(args, options, context);
  if (verb == "export") return Export(args, options, context);
  if (verb == "report-scan") return ReportScan(args, options, context);
  if (args.size() != 2) return Usage(context, absl::StrCat(verb, ": expects only ACCOUNT"));
  if (verb == "status") return Status(args[1], context);
  if (verb == "rules") return Rules(args[1], context);
  if (verb == "dates") return Dates(args[1], context);
  return Audit(args[1], context);
}

}  // namespace egress::ctl
