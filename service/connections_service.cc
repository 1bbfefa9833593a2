#include "service/connections_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/field_status.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "service/accounts_validation.h"
#include "service/connections_csv.h"
#include "service/connections_validation.h"
#include "service/paging.h"
#include "service/rpc_edge.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;

constexpr char kBlockRulesToken[] = "block_rules";
constexpr char kAuditEventsToken[] = "audit_events";

// DailyCounts without a range: everything kept.
const absl::CivilDay kFirstDay(1970, 1, 1);
const absl::CivilDay kLastDay(9999, 12, 31);

}  // namespace

grpc::Status ConnectionsServiceImpl::ListDates(grpc::ServerContext* context,
                                               const v1::ListDatesRequest* request,
                                               v1::ListDatesResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(std::vector<DaySummary> days,
                            connections_.ListDates(request->account_id()));
    for (const DaySummary& day : days) DaySummaryToProto(day, response->add_dates());
    return absl::OkStatus();
  }();
  return FinishRpc("ListDates", status);
}

grpc::Status ConnectionsServiceImpl::ListConnections(grpc::ServerContext* context,
                                                     const v1::ListConnectionsRequest* request,
                                                     v1::ListConnectionsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    // Agents may run slightly ahead of us; a day after tomorrow cannot have
    // records.
    const absl::CivilDay latest = DayOf(clock_.Now(), service_zone_) + 1;
    // No date: the newest day with records. The other fields are checked
    // against a stand-in day first, so bad input is refused the same way.
    const v1::Date& asked = request->date();
    const bool newest = asked.year() == 0 && asked.month() == 0 && asked.day() == 0;
    v1::ListConnectionsRequest resolved;
    if (newest) {
      resolved = *request;
      DayToProto(latest, resolved.mutable_date());
    }
    const v1::ListConnectionsRequest& effective = newest ? resolved : *request;
    EGRESS_ASSIGN_OR_RETURN(ConnectionQuery query, ConnectionQueryFromProto(effective, latest));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    if (newest) {
      EGRESS_ASSIGN_OR_RETURN(std::vector<DaySummary> days,
                              connections_.ListDates(request->account_id()));
      if (days.empty()) return absl::OkStatus();  // nothing recorded yet: no day, no rows
      query.day =
          std::max_element(days.begin(), days.end(), [](const DaySummary& a, const DaySummary& b) {
            return a.day < b.day;
          })->day;
      if (!request->page_token().empty()) {
        return InvalidField("page_token", "needs the date of the page it continues");
      }
    }
    DayToProto(query.day, response->mutable_date());
    const int page_size = query.limit;
    // One extra row tells whether another page follows.
    query.limit = page_size + 1;
    EGRESS_ASSIGN_OR_RETURN(ConnectionPage page, connections_.ListConnections(query));
    const bool more = static_cast<int>(page.rows.size()) > page_size;
    if (more) page.rows.resize(page_size);
    for (const ConnectionRow& row : page.rows) ConnectionToProto(row, response->add_connections());
    if (more) {
      // Later pages repeat the first page's total instead of counting again.
      response->set_next_page_token(
          ConnectionsPageToken(query, page.rows.back().cursor, page.total_rows));
    }
    response->set_total_rows(page.total_rows);
    response->set_incomplete(page.incomplete);
    return absl::OkStatus();
  }();
  return FinishRpc("ListConnections", status);
}

grpc::Status ConnectionsServiceImpl::ExportConnections(
    grpc::ServerContext* context, const v1::ExportConnectionsRequest* request,
    grpc::ServerWriter<v1::ExportConnectionsChunk>* writer) {
  const absl::Time started = absl::Now();
  uint64_t rows = 0;
  uint64_t bytes = 0;
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    // The same filters as ListConnections, checked by the same code, so the
    // messages name the same fields.
    v1::ListConnectionsRequest list;
    list.set_account_id(request->account_id());
    *list.mutable_date() = request->date();
    list.set_ip_filter(request->ip_filter());
    list.set_action(request->action());
    list.set_order_by(request->order_by());
    list.set_reverse(request->reverse());
    const absl::CivilDay latest = DayOf(clock_.Now(), service_zone_) + 1;
    EGRESS_ASSIGN_OR_RETURN(ConnectionQuery query, ConnectionQueryFromProto(list, latest));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));

    if (exports_running_.fetch_add(1) >= kMaxConcurrentExports) {
      exports_running_.fetch_sub(1);
      return absl::ResourceExhaustedError("too many exports are running; try again in a minute");
    }
    struct Slot {
      std::atomic<int>& running;
      ~Slot() { running.fetch_sub(1); }
    } slot{exports_running_};

    v1::ExportConnectionsChunk chunk;
    std::string& csv = *chunk.mutable_csv();
    csv.reserve(kExportChunkBytes + 4096);
    auto send = [&]() -> absl::Status {
      bytes += csv.size();
      if (!writer->Write(chunk)) return absl::CancelledError("the caller went away");
      csv.clear();
      chunk.set_rows(0);
      return absl::OkStatus();
    };
    bool header = false;
    EGRESS_RETURN_IF_ERROR(connections_.ExportConnections(
        query, kExportBatchRows, [&](std::vector<ConnectionRow>& batch) -> absl::Status {
          if (!header) {
            if (request->utf8_bom()) csv.append(kUtf8Bom);
            AppendConnectionsCsvHeader(&csv);
            header = true;
          }
          for (const ConnectionRow& row : batch) {
            AppendConnectionCsvRow(row, query.day, service_zone_, &csv);
            chunk.set_rows(chunk.rows() + 1);
            ++rows;
            if (csv.size() >= kExportChunkBytes) EGRESS_RETURN_IF_ERROR(send());
          }
          return absl::OkStatus();
        }));
    if (!csv.empty()) EGRESS_RETURN_IF_ERROR(send());
    return absl::OkStatus();
  }();
  if (status.ok() || status.code() == absl::StatusCode::kCancelled) {
    LogInfo("connections_exported", {{"account_id", request->account_id()},
                                     {"rows", rows},
                                     {"bytes", bytes},
                                     {"ms", absl::ToInt64Milliseconds(absl::Now() - started)},
                                     {"complete", status.ok()}});
  }
  return FinishRpc("ExportConnections", status);
}

grpc::Status ConnectionsServiceImpl::DailyCounts(grpc::ServerContext* context,
                                                 const v1::DailyCountsRequest* request,
                                                 v1::DailyCountsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    absl::CivilDay from = kFirstDay;
    absl::CivilDay to = kLastDay;
    if (request->has_from()) {
      EGRESS_ASSIGN_OR_RETURN(from, DayFromProto(request->from(), "from"));
    }
    if (request->has_to()) {
      EGRESS_ASSIGN_OR_RETURN(to, DayFromProto(request->to(), "to"));
    }
    if (from > to) {
      return InvalidField("to",
                          absl::StrCat(FormatDay(to), " is before from (", FormatDay(from), ")"));
    }
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(std::vector<DaySummary> days,
                            connections_.DailyCounts(request->account_id(), from, to));
    for (const DaySummary& day : days) DaySummaryToProto(day, response->add_days());
    return absl::OkStatus();
  }();
  return FinishRpc("DailyCounts", status);
}

grpc::Status ConnectionsServiceImpl::ListBlockRules(grpc::ServerContext* context,
                                                    const v1::ListBlockRulesRequest* request,
                                                    v1::ListBlockRulesResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_ASSIGN_OR_RETURN(int page_size, ResolvePageSize(request->page_size(), "page_size"));
    EGRESS_ASSIGN_OR_RETURN(
        std::optional<uint64_t> before,
        DecodeIdPageToken(request->page_token(), kBlockRulesToken, "page_token"));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(BlockRulePage page,
                            rules_.ListBlockRules(request->account_id(), before, page_size + 1));
    const bool more = static_cast<int>(page.rules.size()) > page_size;
    if (more) page.rules.resize(page_size);
    for (const BlockRuleRecord& rule : page.rules) BlockRuleToProto(rule, response->add_rules());
    if (more) {
      response->set_next_page_token(
          EncodePageToken(kBlockRulesToken, absl::StrCat(page.rules.back().rule_id)));
    }
    response->set_total_rules(page.total_rules);
    return absl::OkStatus();
  }();
  return FinishRpc("ListBlockRules", status);
}

grpc::Status ConnectionsServiceImpl::BlockDestination(grpc::ServerContext* context,
                                                      const v1::BlockDestinationRequest* request,
                                                      v1::BlockRule* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_ASSIGN_OR_RETURN(BlockRuleSpec spec, BlockRuleSpecFromProto(*request, clock_.Now()));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(BlockRuleRecord rule,
                            rules_.CreateBlockRule(request->account_id(), spec, caller.AsActor()));
    BlockRuleToProto(rule, response);
    LogInfo("block_rule_created", {{"account_id", request->account_id()},
                                   {"rule_id", rule.rule_id},
                                   {"network", rule.spec.network.ToString()},
                                   {"actor", caller.ActorName()}});
    return absl::OkStatus();
  }();
  return FinishRpc("BlockDestination", status);
}

grpc::Status ConnectionsServiceImpl::UpdateNote(grpc::ServerContext* context,
                                                const v1::UpdateNoteRequest* request,
                                                v1::BlockRule* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_RETURN_IF_ERROR(ValidateRuleId(request->rule_id(), "rule_id"));
    EGRESS_RETURN_IF_ERROR(ValidateNoteField(request->note(), "note"));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(BlockRuleRecord rule,
                            rules_.UpdateNote(request->account_id(), request->rule_id(),
                                              request->note(), caller.AsActor()));
    BlockRuleToProto(rule, response);
    return absl::OkStatus();
  }();
  return FinishRpc("UpdateNote", status);
}

grpc::Status ConnectionsServiceImpl::DeleteBlockRules(grpc::ServerContext* context,
                                                      const v1::DeleteBlockRulesRequest* request,
                                                      v1::DeleteBlockRulesResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, RuleIdsFromProto(*request));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(RulesStore::DeleteResult result,
                            rules_.DeleteBlockRules(request->account_id(), ids, caller.AsActor()));
    response->set_deleted(result.deleted);
    response->set_rule_version(result.rule_version);
    LogInfo("block_rules_deleted", {{"account_id", request->account_id()},
                                    {"deleted", result.deleted},
                                    {"actor", caller.ActorName()}});
    return absl::OkStatus();
  }();
  return FinishRpc("DeleteBlockRules", status);
}

grpc::Status ConnectionsServiceImpl::SetBlockAll(grpc::ServerContext* context,
                                                 const v1::SetBlockAllRequest* request,
                                                 v1::AccountStatus* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(
        AccountStatusRecord record,
        rules_.SetManualLock(request->account_id(), request->enabled(), caller.AsActor()));
    AccountStatusToProto(record, response);
    return absl::OkStatus();
  }();
  return FinishRpc("SetBlockAll", status);
}

grpc::Status ConnectionsServiceImpl::GetAccountStatus(grpc::ServerContext* context,
                                                      const v1::GetAccountStatusRequest* request,
                                                      v1::AccountStatus* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    EGRESS_ASSIGN_OR_RETURN(AccountStatusRecord record,
                            rules_.GetAccountStatus(request->account_id()));
    AccountStatusToProto(record, response);
    return absl::OkStatus();
  }();
  return FinishRpc("GetAccountStatus", status);
}

grpc::Status ConnectionsServiceImpl::ListAuditEvents(grpc::ServerContext* context,
                                                     const v1::ListAuditEventsRequest* request,
                                                     v1::ListAuditEventsResponse* response) {
  absl::Status status = [&]() -> absl::Status {
    EGRESS_ASSIGN_OR_RETURN(Caller caller, authorizer_.Authenticate(*context));
    EGRESS_RETURN_IF_ERROR(ValidateIdField(request->account_id(), "account_id"));
    EGRESS_ASSIGN_OR_RETURN(int page_size, ResolvePageSize(request->page_size(), "page_size"));
    EGRESS_ASSIGN_OR_RETURN(
        std::optional<uint64_t> before,
        DecodeIdPageToken(request->page_token(), kAuditEventsToken, "page_token"));
    EGRESS_RETURN_IF_ERROR(Authorizer::RequireAccount(caller, request->account_id()));
    if (request->include_earlier_accounts()) {
      EGRESS_RETURN_IF_ERROR(AnnotateField("include_earlier_accounts",
                                           Authorizer::RequireScope(caller, Scope::kAdmin)));
    }
    EGRESS_ASSIGN_OR_RETURN(std::vector<AuditEventRecord> events,
                            rules_.ListAuditEvents(request->account_id(), before, page_size + 1,
                                                   request->include_earlier_accounts()));
    const bool more = static_cast<int>(events.size()) > page_size;
    if (more) events.resize(page_size);
    for (const AuditEventRecord& event : events) AuditEventToProto(event, response->add_events());
    if (more) {
      response->set_next_page_token(
          EncodePageToken(kAuditEventsToken, absl::StrCat(events.back().event_id)));
    }
    return absl::OkStatus();
  }();
  return FinishRpc("ListAuditEvents", status);
}

}  // namespace egress
