#include "service/ingest_validation.h"

#include "absl/strings/str_cat.h"
#include "common/action_proto.h"
#include "common/field_status.h"
#include "common/protocol_proto.h"
#include "common/status_macros.h"
#include "service/proto_time.h"
#include "service/wire_integers.h"

namespace egress {
namespace {

using egress::v1::ConnectionRecord;

absl::StatusOr<absl::CivilDay> DayFromProto(const egress::v1::Date& date,
                                            const IngestLimits& limits) {
  const absl::CivilDay day(date.year(), date.month(), date.day());
  if (day.year() != date.year() || day.month() != date.month() || day.day() != date.day()) {
    return absl::InvalidArgumentError("day: not a calendar date");
  }
  if (day < limits.today - limits.retention_days) {
    return absl::InvalidArgumentError(
        absl::StrCat("day: older than the retention period of ", limits.retention_days, " days"));
  }
  if (day > limits.today + 1) return absl::InvalidArgumentError("day: in the future");
  return day;
}

// Returns the reason the record is refused, or "" when it is good.
std::string Check(const ConnectionRecord& in, const IngestLimits& limits, IngestRecord* out) {
  absl::StatusOr<absl::CivilDay> day = DayFromProto(in.day(), limits);
  if (!day.ok()) return std::string(day.status().message());
  out->day = *day;
  absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(in.dst_ip().data()), in.dst_ip().size()));
  if (!ip.ok()) return "dst_ip: must be 4 or 16 bytes";
  out->ip = ip->Unmapped();
  if (out->ip.IsUnspecified()) return "dst_ip: unspecified address";
  const std::optional<Protocol> protocol = ProtocolFromProto(in.protocol());
  if (!protocol.has_value() || *protocol == Protocol::kAny) {
    return "protocol: must be TCP, UDP, ICMP or ICMPV6";
  }
  out->protocol = *protocol;
  const bool has_ports = ProtocolHasPorts(out->protocol);
  if (has_ports && (in.dst_port() < 1 || in.dst_port() > 65535)) {
    return "dst_port: must be 1..65535 for tcp and udp";
  }
  if (!has_ports && in.dst_port() != 0) return "dst_port: must be 0 for icmp";
  out->port = static_cast<uint16_t>(in.dst_port());
  const std::optional<Action> action = ActionFromProto(in.action());
  if (!action.has_value()) return "action: must be ACCEPT or REJECT";
  out->action = *action;
  if (in.count() < 1 || in.count() > (uint64_t{1} << 40)) return "count: must be 1..2^40";
  out->count = in.count();
  absl::StatusOr<absl::Time> first = TimeFromProto(in.first_seen(), "first_seen");
  if (!first.ok()) return std::string(first.status().message());
  absl::StatusOr<absl::Time> last = TimeFromProto(in.last_seen(), "last_seen");
  if (!last.ok()) return std::string(last.status().message());
  if (*last < *first) return "last_seen: before first_seen";
  out->first_seen = *first;
  out->last_seen = *last;
  return "";
}

}  // namespace

absl::StatusOr<ValidatedBatch> ValidateBatch(const egress::v1::RecordBatch& batch,
                                             const NodeInfo& node, const IngestLimits& limits) {
  if (batch.seq() == 0) return absl::InvalidArgumentError("batch.seq: must start at 1");
  EGRESS_RETURN_IF_ERROR(ValidateWireInteger(batch.seq(), "batch.seq"));
  for (int i = 0; i < batch.losses_size(); ++i) {
    EGRESS_RETURN_IF_ERROR(
        ValidateWireIntegers(batch.losses(i), absl::StrCat("batch.losses[", i, "]")));
  }
  if (batch.records_size() > limits.max_records) {
    return absl::InvalidArgumentError(absl::StrCat("batch.records: at most ", limits.max_records,
                                                   " per batch, got ", batch.records_size()));
  }
  ValidatedBatch out;
  out.batch.node_id = node.node_id;
  out.batch.seq = batch.seq();
  out.batch.records.reserve(batch.records_size());
  for (int i = 0; i < batch.records_size(); ++i) {
    const ConnectionRecord& record = batch.records(i);
    IngestRecord parsed;
    std::string reason = Check(record, limits, &parsed);
    if (reason.empty()) {
      auto account = node.account_by_uid.find(record.uid());
      if (account == node.account_by_uid.end()) {
        // Not an account of this node (yet, or any more): counted, not stored.
        ++out.unknown_uid_records;
        continue;
      }
      parsed.account_id = account->second;
      out.batch.records.push_back(std::move(parsed));
      continue;
    }
    egress::v1::RecordRejection rejection;
    rejection.set_index(static_cast<uint32_t>(i));
    rejection.set_reason(reason);
    out.rejections.push_back(std::move(rejection));
  }
  for (const egress::v1::LossReport& loss : batch.losses()) {
    absl::StatusOr<absl::CivilDay> day = DayFromProto(loss.day(), limits);
    if (!day.ok() || loss.reason() == egress::v1::LossReport::REASON_UNSPECIFIED) continue;
    out.batch.losses.push_back(
        IngestLoss{*day, static_cast<int>(loss.reason()), loss.events(), loss.size_unknown()});
  }
  return out;
}

}  // namespace egress
