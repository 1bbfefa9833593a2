#include "service/connections_validation.h"

#include <cctype>
#include <cstdint>
#include <limits>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/civil_day.h"
#include "common/field_status.h"
#include "common/note.h"
#include "common/protocol_proto.h"
#include "common/status_macros.h"
#include "google/protobuf/stubs/common.h"
#include "service/domain/lock_proto.h"
#include "service/paging.h"
#include "service/proto_time.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;

constexpr char kConnectionsToken[] = "connections";

// FNV-1a, 64 bit: stable across processes and replicas (absl::Hash is not),
// which is all a filter fingerprint needs.
uint64_t Fnv1a(absl::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Everything a ListConnections page depends on besides the cursor.
std::string FilterFingerprint(const ConnectionQuery& query) {
  std::string filter;
  switch (query.filter.kind) {
    case IpFilter::Kind::kNone:
      break;
    case IpFilter::Kind::kNetwork:
      filter = absl::StrCat("net:", query.filter.network->ToString());
      break;
    case IpFilter::Kind::kTextPrefix:
      filter = absl::StrCat("prefix:", query.filter.prefix);
      break;
  }
  const std::string canonical =
      absl::StrCat(query.account_id, "\n", FormatDay(query.day), "\n", filter, "\n",
                   query.action.has_value() ? static_cast<int>(*query.action) : 0, "\n",
                   static_cast<int>(query.order), "\n", query.descending ? 1 : 0);
  return absl::StrFormat("%016x", Fnv1a(canonical));
}

absl::Status BadToken(absl::string_view field) {
  return InvalidField(field, "is not a page token from a previous response of this call");
}

// "<fingerprint>/<primary>/<ip>/<protocol>/<port>/<action>[/<total>]": the
// total read with the first page (tokens without it make the page count).
absl::StatusOr<ConnectionCursor> ParseConnectionCursor(absl::string_view cursor,
                                                       const std::string& fingerprint,
                                                       absl::string_view field,
                                                       std::optional<uint64_t>* total) {
  std::vector<absl::string_view> parts = absl::StrSplit(cursor, '/');
  if (parts.size() != 6 && parts.size() != 7) return BadToken(field);
  if (parts.size() == 7) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(parts[6], &value)) return BadToken(field);
    *total = value;
  }
  if (parts[0] != fingerprint) {
    return InvalidField(field,
                        "was issued for other filters (date, ip_filter, action, order_by or "
                        "reverse); ask for the first page again without a page token");
  }
  ConnectionCursor out;
  int64_t primary = 0;
  int protocol = 0, port = 0, action = 0;
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(parts[2]);
  if (!absl::SimpleAtoi(parts[1], &primary) || !ip.ok() || !absl::SimpleAtoi(parts[3], &protocol) ||
      !absl::SimpleAtoi(parts[4], &port) || !absl::SimpleAtoi(parts[5], &action) ||
      !ProtocolFromNumber(protocol).ok() || protocol == 0 || port < 0 || port > 65535 ||
      (action != 1 && action != 2)) {
    return BadToken(field);
  }
  out.primary = primary;
  out.ip = *ip;
  out.protocol = protocol;
  out.port = port;
  out.action = action;
  return out;
}

// UTF-8 without control characters, 1..max_bytes bytes.
absl::Status ValidateLabel(absl::string_view text, size_t max_bytes, absl::string_view field) {
  if (text.empty()) return InvalidField(field, "is required");
  if (text.size() > max_bytes) {
    return InvalidField(field, absl::StrCat("is longer than ", max_bytes, " bytes"));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      return InvalidField(field,
                          absl::StrFormat("contains control character 0x%02X at byte %d", c, i));
    }
  }
  if (!google::protobuf::internal::IsStructurallyValidUTF8(text.data(),
                                                           static_cast<int>(text.size()))) {
    return InvalidField(field, "is not valid UTF-8");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::CivilDay> DayFromProto(const v1::Date& date, absl::string_view field) {
  if (date.year() == 0 && date.month() == 0 && date.day() == 0) {
    return InvalidField(field, "is required");
  }
  const absl::CivilDay day(date.year(), date.month(), date.day());
  if (date.year() < 1970 || date.year() > 9999 || day.year() != date.year() ||
      day.month() != date.month() || day.day() != date.day()) {
    return InvalidField(field, absl::StrFormat("%d-%02d-%02d is not a real day in 1970..9999",
                                               date.year(), date.month(), date.day()));
  }
  return day;
}

void DayToProto(absl::CivilDay day, v1::Date* date) {
  date->set_year(static_cast<int32_t>(day.year()));
  date->set_month(day.month());
  date->set_day(day.day());
}

absl::StatusOr<IpFilter> ParseIpFilter(absl::string_view text, absl::string_view field) {
  IpFilter filter;
  if (text.empty()) return filter;
  if (text.size() > kMaxIpFilterBytes) {
    return InvalidField(field, absl::StrCat("is longer than ", kMaxIpFilterBytes,
                                            " bytes; give an IP, a CIDR or the start of an IP"));
  }
  if (text.find('/') != absl::string_view::npos) {
    absl::StatusOr<IpNetwork> network = IpNetwork::Parse(text);
    if (!network.ok()) return AnnotateField(field, network.status());
    filter.kind = IpFilter::Kind::kNetwork;
    filter.network = *network;
    return filter;
  }
  if (absl::StatusOr<IpAddress> ip = IpAddress::Parse(text); ip.ok()) {
    filter.kind = IpFilter::Kind::kNetwork;
    filter.network = IpNetwork::Host(*ip);
    return filter;
  }
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != '.' && c != ':') {
      return InvalidField(field, absl::StrCat(QuoteForMessage(text),
                                              " is neither an IP address, a CIDR nor the start "
                                              "of an address (digits, a-f, '.' and ':')"));
    }
  }
  filter.kind = IpFilter::Kind::kTextPrefix;
  filter.prefix = absl::AsciiStrToLower(text);
  return filter;
}

absl::StatusOr<ConnectionQuery> ConnectionQueryFromProto(const v1::ListConnectionsRequest& request,
                                                         absl::CivilDay latest_day) {
  ConnectionQuery query;
  query.account_id = request.account_id();
  EGRESS_ASSIGN_OR_RETURN(query.day, DayFromProto(request.date(), "date"));
  if (query.day > latest_day) {
    return InvalidField("date", absl::StrCat(FormatDay(query.day), " is in the future"));
  }
  EGRESS_ASSIGN_OR_RETURN(query.filter, ParseIpFilter(request.ip_filter(), "ip_filter"));
  switch (request.action()) {
    case v1::ACTION_UNSPECIFIED:
      break;
    case v1::ACTION_ACCEPT:
      query.action = RecordAction::kAccept;
      break;
    case v1::ACTION_REJECT:
      query.action = RecordAction::kReject;
      break;
    default:
      return InvalidField("action", absl::StrCat("unknown value ", request.action(),
                                                 "; use ACTION_ACCEPT or ACTION_REJECT"));
  }
  bool default_descending = true;
  switch (request.order_by()) {
    case v1::ListConnectionsRequest::ORDER_BY_UNSPECIFIED:
    case v1::ListConnectionsRequest::ORDER_BY_COUNT:
      query.order = ConnectionOrder::kCount;
      break;
    case v1::ListConnectionsRequest::ORDER_BY_IP:
      query.order = ConnectionOrder::kIp;
      default_descending = false;
      break;
    case v1::ListConnectionsRequest::ORDER_BY_PORT:
      query.order = ConnectionOrder::kPort;
      default_descending = false;
      break;
    case v1::ListConnectionsRequest::ORDER_BY_LAST_SEEN:
      query.order = ConnectionOrder::kLastSeen;
      break;
    default:
      return InvalidField("order_by", absl::StrCat("unknown value ", request.order_by()));
  }
  query.descending = request.reverse() ? !default_descending : default_descending;
  EGRESS_ASSIGN_OR_RETURN(query.limit, ResolvePageSize(request.page_size(), "page_size"));
  EGRESS_ASSIGN_OR_RETURN(std::string cursor,
                          DecodePageToken(request.page_token(), kConnectionsToken, "page_token"));
  if (!cursor.empty()) {
    EGRESS_ASSIGN_OR_RETURN(query.after, ParseConnectionCursor(cursor, FilterFingerprint(query),
                                                               "page_token", &query.known_total));
  }
  return query;
}

std::string ConnectionsPageToken(const ConnectionQuery& query, const ConnectionCursor& last,
                                 std::optional<uint64_t> total_rows) {
  std::string cursor =
      absl::StrCat(FilterFingerprint(query), "/", last.primary, "/", last.ip.ToString(), "/",
                   last.protocol, "/", last.port, "/", last.action);
  if (total_rows.has_value()) absl::StrAppend(&cursor, "/", *total_rows);
  return EncodePageToken(kConnectionsToken, cursor);
}

absl::Status ValidateNoteField(absl::string_view note, absl::string_view field) {
  return AnnotateField(field, ValidateNote(note));
}

absl::StatusOr<BlockRuleSpec> BlockRuleSpecFromProto(const v1::BlockDestinationRequest& request,
                                                     absl::Time now) {
  BlockRuleSpec spec;
  if (request.destination().empty()) {
    return InvalidField("destination", "is required: an IP address or a CIDR (203.0.113.0/24)");
  }
  absl::StatusOr<IpNetwork> network = IpNetwork::Parse(request.destination());
  if (!network.ok()) return AnnotateField("destination", network.status());
  spec.network = *network;
  switch (request.protocol()) {
    case v1::PROTOCOL_UNSPECIFIED:
    case v1::PROTOCOL_ANY:
      spec.protocol = Protocol::kAny;
      break;
    case v1::PROTOCOL_TCP:
      spec.protocol = Protocol::kTcp;
      break;
    case v1::PROTOCOL_UDP:
      spec.protocol = Protocol::kUdp;
      break;
    case v1::PROTOCOL_ICMP:
    case v1::PROTOCOL_ICMPV6:
      return InvalidField("protocol",
                          "ICMP cannot be blocked on its own; block PROTOCOL_ANY with port 0 "
                          "to block every protocol to the destination");
    default:
      return InvalidField("protocol",
                          absl::StrCat("unknown value ", request.protocol(),
                                       "; use PROTOCOL_TCP, PROTOCOL_UDP or PROTOCOL_ANY"));
  }
  if (request.port() > 65535) {
    return InvalidField(
        "port", absl::StrCat("must be 1..65535, or 0 for every port; got ", request.port()));
  }
  spec.port = static_cast<int>(request.port());
  EGRESS_RETURN_IF_ERROR(ValidateNoteField(request.note(), "note"));
  spec.note = request.note();
  if (request.has_expire_time()) {
    EGRESS_ASSIGN_OR_RETURN(absl::Time expiry, TimeFromProto(request.expire_time(), "expire_time"));
    auto text = [](absl::Time t) {
      return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
    };
    if (expiry <= now) {
      return InvalidField("expire_time", absl::StrCat("must be in the future; ", text(expiry),
                                                      " has passed (now ", text(now), ")"));
    }
    if (expiry > now + kMaxBlockRuleLifetime) {
      return InvalidField(
          "expire_time",
          absl::StrCat("must be at most ", absl::ToInt64Hours(kMaxBlockRuleLifetime) / 24,
                       " days ahead (", text(now + kMaxBlockRuleLifetime), "); got ", text(expiry),
                       "; leave it unset for a rule that never expires"));
    }
    spec.expires_at = expiry;
  }
  return spec;
}

absl::Status ValidateRuleId(uint64_t rule_id, absl::string_view field) {
  if (rule_id == 0) return InvalidField(field, "is required (rule ids start at 1)");
  return ValidateWireInteger(rule_id, field);
}

absl::StatusOr<std::vector<uint64_t>> RuleIdsFromProto(const v1::DeleteBlockRulesRequest& request) {
  if (request.rule_ids_size() == 0) return InvalidField("rule_ids", "give at least one rule id");
  if (request.rule_ids_size() > kMaxDeleteRuleIds) {
    return InvalidField("rule_ids", absl::StrCat("at most ", kMaxDeleteRuleIds,
                                                 " ids per call, got ", request.rule_ids_size()));
  }
  std::vector<uint64_t> ids;
  std::set<uint64_t> seen;
  for (int i = 0; i < request.rule_ids_size(); ++i) {
    const std::string field = absl::StrCat("rule_ids[", i, "]");
    EGRESS_RETURN_IF_ERROR(ValidateRuleId(request.rule_ids(i), field));
    if (!seen.insert(request.rule_ids(i)).second) {
      return InvalidField(field, absl::StrCat("rule ", request.rule_ids(i), " is listed twice"));
    }
    ids.push_back(request.rule_ids(i));
  }
  return ids;
}

absl::StatusOr<std::optional<uint64_t>> DecodeIdPageToken(absl::string_view token,
                                                          absl::string_view kind,
                                                          absl::string_view field) {
  EGRESS_ASSIGN_OR_RETURN(std::string cursor, DecodePageToken(token, kind, field));
  if (cursor.empty()) return std::nullopt;
  uint64_t id = 0;
  if (!absl::SimpleAtoi(cursor, &id) || id == 0 ||
      id > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return BadToken(field);
  }
  return id;
}

absl::StatusOr<ScanReport> ScanReportFromProto(const v1::ReportScanRequest& request,
                                               absl::Time now) {
  ScanReport report;
  const std::string& scan_id = request.scan_id();
  if (scan_id.empty()) return InvalidField("scan_id", "is required");
  if (scan_id.size() > static_cast<size_t>(kMaxScanIdBytes)) {
    return InvalidField("scan_id", absl::StrCat("is longer than ", kMaxScanIdBytes, " characters"));
  }
  for (size_t i = 0; i < scan_id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(scan_id[i]);
    if (c < 0x20 || c > 0x7E) {
      return InvalidField("scan_id",
                          absl::StrCat(QuoteForMessage(scan_id), " has a character at byte ", i,
                                       " that is not printable ASCII"));
    }
  }
  if (scan_id.front() == ' ' || scan_id.back() == ' ') {
    return InvalidField("scan_id", "starts or ends with a space");
  }
  report.scan_id = scan_id;
  if (!request.has_finish_time()) return InvalidField("finish_time", "is required");
  EGRESS_ASSIGN_OR_RETURN(report.finished_at, TimeFromProto(request.finish_time(), "finish_time"));
  if (report.finished_at > now + kMaxScanClockSkew) {
    return InvalidField(
        "finish_time",
        absl::StrCat(absl::FormatTime(absl::RFC3339_full, report.finished_at, absl::UTCTimeZone()),
                     " is in the future"));
  }
  if (request.threats_size() > kMaxThreats) {
    return InvalidField(
        "threats", absl::StrCat("at most ", kMaxThreats, " threats, got ", request.threats_size()));
  }
  report.threats.reserve(request.threats_size());
  for (int i = 0; i < request.threats_size(); ++i) {
    const v1::Threat& threat = request.threats(i);
    EGRESS_RETURN_IF_ERROR(
        ValidateLabel(threat.path(), kMaxThreatPathBytes, absl::StrCat("threats[", i, "].path")));
    EGRESS_RETURN_IF_ERROR(ValidateLabel(threat.signature(), kMaxThreatSignatureBytes,
                                         absl::StrCat("threats[", i, "].signature")));
    report.threats.push_back(Threat{threat.path(), threat.signature()});
  }
  return report;
}

void IpInfoToProto(const DestinationInfo& record, v1::IpInfo* info) {
  info->set_status(static_cast<v1::IpInfo::Status>(record.status));
  info->set_ptr(record.ptr);
  info->set_ptr_confirmed(record.ptr_confirmed);
  info->set_asn(record.asn);
  info->set_as_name(record.as_name);
  info->set_country(record.country);
  info->set_network(record.network);
  if (record.looked_up_at.has_value()) {
    TimeToProto(*record.looked_up_at, info->mutable_looked_up_at());
  }
}

void DaySummaryToProto(const DaySummary& day, v1::DateSummary* summary) {
  DayToProto(day.day, summary->mutable_date());
  summary->set_accepted(day.accepted);
  summary->set_rejected(day.rejected);
  summary->set_incomplete(day.incomplete);
}

void ConnectionToProto(const ConnectionRow& row, v1::Connection* connection) {
  connection->set_ip(row.ip.ToString());
  IpInfoToProto(row.ip_info, connection->mutable_ip_info());
  connection->set_protocol(ProtocolToProto(row.protocol));
  connection->set_port(static_cast<uint32_t>(row.port));
  connection->set_action(row.action == RecordAction::kAccept ? v1::ACTION_ACCEPT
                                                             : v1::ACTION_REJECT);
  connection->set_count(row.count);
  TimeToProto(row.first_seen, connection->mutable_first_seen());
  TimeToProto(row.last_seen, connection->mutable_last_seen());
  for (uint64_t id : row.blocking_rule_ids) connection->add_blocking_rule_ids(id);
  connection->set_address_rule_id(row.address_rule_id);
}

void BlockRuleToProto(const BlockRuleRecord& record, v1::BlockRule* rule) {
  rule->set_rule_id(record.rule_id);
  rule->set_network(record.spec.network.ToString());
  IpInfoToProto(record.ip_info, rule->mutable_ip_info());
  rule->set_protocol(ProtocolToProto(record.spec.protocol));
  rule->set_port(static_cast<uint32_t>(record.spec.port));
  rule->set_note(record.spec.note);
  TimeToProto(record.created_at, rule->mutable_create_time());
  rule->set_created_by(record.created_by);
  TimeToProto(record.updated_at, rule->mutable_update_time());
  if (record.spec.expires_at.has_value()) {
    TimeToProto(*record.spec.expires_at, rule->mutable_expire_time());
  }
}

void AccountStatusToProto(const AccountStatusRecord& record, v1::AccountStatus* status) {
  status->set_account_id(record.account_id);
  status->set_node_id(record.node_id);
  for (const LockRecord& lock : record.locks) {
    v1::Lock* out = status->add_locks();
    out->set_kind(LockKindToProto(lock.kind));
    out->set_reason(lock.reason);
    TimeToProto(lock.since, out->mutable_since());
    out->set_set_by(lock.set_by);
    out->set_scan_id(lock.scan_id);
    out->set_threat_count(lock.threat_count);
    for (uint16_t port : lock.ports) out->add_ports(port);
    if (lock.expires_at.has_value()) TimeToProto(*lock.expires_at, out->mutable_expire_time());
    out->set_what_to_do(std::string(lock_policy::WhatToDo(lock.kind)));
  }
  status->set_all_blocked(lock_policy::AnyBlocksEverything(record.locks));
  if (record.egress_ipv4.has_value()) {
    status->set_egress_ipv4(record.egress_ipv4->ToString());
    IpInfoToProto(record.egress_ipv4_info, status->mutable_egress_ipv4_info());
  }
  if (record.egress_ipv6.has_value()) {
    status->set_egress_ipv6(record.egress_ipv6->ToString());
    IpInfoToProto(record.egress_ipv6_info, status->mutable_egress_ipv6_info());
  }
  status->set_rule_version(record.rule_version);
  status->set_applied_rule_version(record.applied_rule_version);
  if (record.applied_at.has_value()) {
    TimeToProto(*record.applied_at, status->mutable_applied_time());
  }
  status->set_enforced(record.applied_rule_version >= record.rule_version);
}

void AuditEventToProto(const AuditEventRecord& record, v1::AuditEvent* event) {
  event->set_event_id(record.event_id);
  event->set_account_id(record.account_id);
  TimeToProto(record.time, event->mutable_time());
  event->set_actor(record.actor);
  event->set_action(record.action);
  event->set_before_json(record.before_json);
  event->set_after_json(record.after_json);
}

}  // namespace egress
