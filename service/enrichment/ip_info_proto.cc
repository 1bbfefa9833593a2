#include "service/enrichment/ip_info_proto.h"

namespace egress {
namespace {

void SetTime(absl::Time time, google::protobuf::Timestamp* proto) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace

void IpInfoRecordToProto(const IpInfoRecord& record, egress::v1::IpInfo* proto) {
  proto->Clear();
  switch (record.status) {
    case IpInfoStatus::kPending:
      proto->set_status(egress::v1::IpInfo::IP_INFO_STATUS_PENDING);
      break;
    case IpInfoStatus::kOk:
      proto->set_status(egress::v1::IpInfo::IP_INFO_STATUS_OK);
      break;
    case IpInfoStatus::kNoPtr:
      proto->set_status(egress::v1::IpInfo::IP_INFO_STATUS_NO_PTR);
      break;
    case IpInfoStatus::kTemporaryFailure:
      proto->set_status(egress::v1::IpInfo::IP_INFO_STATUS_TEMPORARY_FAILURE);
      break;
  }
  proto->set_ptr(record.ptr);
  proto->set_ptr_confirmed(record.ptr_confirmed);
  proto->set_asn(record.asn);
  proto->set_as_name(record.as_name);
  proto->set_country(record.country);
  if (record.network.has_value()) proto->set_network(record.network->ToString());
  if (record.looked_up_at.has_value()) SetTime(*record.looked_up_at, proto->mutable_looked_up_at());
}

void IpInfoExpireTimeToProto(const IpInfoRecord& record, google::protobuf::Timestamp* proto) {
  proto->Clear();
  if (record.expires_at.has_value()) SetTime(*record.expires_at, proto);
}

}  // namespace egress
