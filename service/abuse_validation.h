// Checks and conversions of AbuseService requests, apart from the RPC
// plumbing so they are unit-tested on their own. Every refusal is
// INVALID_ARGUMENT naming the field.
#ifndef EGRESS_SERVICE_ABUSE_VALIDATION_H_
#define EGRESS_SERVICE_ABUSE_VALIDATION_H_

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "egress/v1/abuse.pb.h"
#include "service/storage/abuse_store.h"

namespace egress {

// The widest destinations a search takes: an abuse report names a host or a
// network, and a wider one would read a large part of every day.
inline constexpr int kWidestAbuseSearchV4 = 16;
inline constexpr int kWidestAbuseSearchV6 = 32;
// Longest day range of one search.
inline constexpr int kMaxAbuseSearchDays = 93;
inline constexpr char kAbusePageKind[] = "abuse_find_connections";

// The search a request asks for; `latest_day` is the last day that can have
// records (tomorrow in the service's time zone: agents may run ahead), the
// default end and the latest one allowed.
absl::StatusOr<DestinationSearch> SearchFromRequest(
    const egress::v1::FindConnectionsRequest& request, absl::CivilDay latest_day);

// The page token that continues after `last`.
std::string AbusePageToken(const AbuseMatchKey& last);

void AbuseMatchToProto(const AbuseMatchRow& row, egress::v1::AbuseMatch* match);

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_VALIDATION_H_
