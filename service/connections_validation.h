// Checks ConnectionsService and AntivirusService requests and turns them into
// store queries and specs; converts store records back to protos. Pure
// functions: every error is INVALID_ARGUMENT naming the offending field
// ("rule_ids[3]: ...", "threats[7].path: ..."), so the store never sees bad
// input.
#ifndef EGRESS_SERVICE_CONNECTIONS_VALIDATION_H_
#define EGRESS_SERVICE_CONNECTIONS_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "egress/v1/antivirus.pb.h"
#include "egress/v1/connections.pb.h"
#include "service/storage/connections_store.h"
#include "service/storage/rules_store.h"

namespace egress {

inline constexpr int kMaxDeleteRuleIds = 1000;
inline constexpr int kMaxScanIdBytes = 128;
inline constexpr int kMaxThreats = 10000;
inline constexpr int kMaxThreatPathBytes = 4096;
inline constexpr int kMaxThreatSignatureBytes = 1024;
// How far in the future a scan's finish time may be (clock skew).
inline constexpr absl::Duration kMaxScanClockSkew = absl::Minutes(5);
// Longest ip_filter text: a CIDR at most.
inline constexpr size_t kMaxIpFilterBytes = 64;

// A civil date: year 1970..9999, a real day. INVALID_ARGUMENT naming
// `field`; an unset date (all zero) is "is required".
absl::StatusOr<absl::CivilDay> DayFromProto(const egress::v1::Date& date, absl::string_view field);
void DayToProto(absl::CivilDay day, egress::v1::Date* date);

// "" → none; contains '/' → a CIDR (host bits must be zero); a whole address
// → that address; otherwise a prefix of the canonical text form, made of hex
// digits, '.' and ':' (case-insensitive: "2001:DB8:" matches "2001:db8::1").
absl::StatusOr<IpFilter> ParseIpFilter(absl::string_view text, absl::string_view field);

// The whole ListConnections request except the account check. `latest_day`
// is the last day that can have records (tomorrow in the service's zone);
// later dates are refused. A page token issued for other filters is
// INVALID_ARGUMENT ("page_token: ...").
absl::StatusOr<ConnectionQuery> ConnectionQueryFromProto(
    const egress::v1::ListConnectionsRequest& request, absl::CivilDay latest_day);

// The token for the page after `last` (bound to `query`'s filters).
// `total_rows`: the first page's total, repeated by later pages (without it
// each later page counts again).
std::string ConnectionsPageToken(const ConnectionQuery& query, const ConnectionCursor& last,
                                 std::optional<uint64_t> total_rows = std::nullopt);

// BlockDestination: destination IP or CIDR without host bits; protocol TCP,
// UDP or ANY (UNSPECIFIED = ANY; ICMP/ICMPv6 refused: block them with ANY
// and port 0); port 0..65535 (0 = every port; with ANY a port means TCP and
// UDP on that port); note as ValidateNote; expire_time, when set, after
// `now` and at most kMaxBlockRuleLifetime after it.
absl::StatusOr<BlockRuleSpec> BlockRuleSpecFromProto(
    const egress::v1::BlockDestinationRequest& request, absl::Time now);

// A note field: UTF-8, at most 1000 code points (ValidateNote).
absl::Status ValidateNoteField(absl::string_view note, absl::string_view field);

// A rule id: 1..2^63-1.
absl::Status ValidateRuleId(uint64_t rule_id, absl::string_view field);

// DeleteBlockRules: 1..kMaxDeleteRuleIds distinct valid ids.
absl::StatusOr<std::vector<uint64_t>> RuleIdsFromProto(
    const egress::v1::DeleteBlockRulesRequest& request);

// Keyset token of ListBlockRules / ListAuditEvents: the last id of the
// previous page (the next page has smaller ids); nullopt for the first page.
absl::StatusOr<std::optional<uint64_t>> DecodeIdPageToken(absl::string_view token,
                                                          absl::string_view kind,
                                                          absl::string_view field);

// ReportScan: scan_id 1..128 printable ASCII characters (no leading or
// trailing space); finish_time required and not after now +
// kMaxScanClockSkew; at most kMaxThreats threats, each with a path
// (1..4096 bytes) and a signature (1..1024 bytes) of UTF-8 without control
// characters.
absl::StatusOr<ScanReport> ScanReportFromProto(const egress::v1::ReportScanRequest& request,
                                               absl::Time now);

void IpInfoToProto(const DestinationInfo& record, egress::v1::IpInfo* info);
void DaySummaryToProto(const DaySummary& day, egress::v1::DateSummary* summary);
void ConnectionToProto(const ConnectionRow& row, egress::v1::Connection* connection);
void BlockRuleToProto(const BlockRuleRecord& record, egress::v1::BlockRule* rule);
void AccountStatusToProto(const AccountStatusRecord& record, egress::v1::AccountStatus* status);
void AuditEventToProto(const AuditEventRecord& record, egress::v1::AuditEvent* event);

}  // namespace egress

#endif  // EGRESS_SERVICE_CONNECTIONS_VALIDATION_H_
