// IpInfoRecord -> egress.v1.IpInfo, for ListConnections, ListBlockRules,
// GetAccountStatus and LookupIp.
#ifndef EGRESS_SERVICE_ENRICHMENT_IP_INFO_PROTO_H_
#define EGRESS_SERVICE_ENRICHMENT_IP_INFO_PROTO_H_

#include "egress/v1/types.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "service/enrichment/ip_info_store.h"

namespace egress {

// Fills every IpInfo field; looked_up_at is left unset while pending.
void IpInfoRecordToProto(const IpInfoRecord& record, egress::v1::IpInfo* proto);

// LookupIpResponse.expire_time: when the cached answer is looked up again
// (unset if the row has no expiry, i.e. is due now).
void IpInfoExpireTimeToProto(const IpInfoRecord& record, google::protobuf::Timestamp* proto);

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_IP_INFO_PROTO_H_
