#include "service/abuse_validation.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/action_proto.h"
#include "common/civil_day.h"
#include "common/protocol_proto.h"
#include "common/status_macros.h"
#include "service/accounts_validation.h"
#include "service/connections_validation.h"
#include "service/paging.h"
#include "service/proto_time.h"

namespace egress {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::StatusOr<IpNetwork> Destination(const std::string& text) {
  if (text.empty()) return Invalid("destination", "is required (an IP or a network)");
  absl::StatusOr<IpNetwork> network = IpNetwork::Parse(text);
  if (!network.ok()) return Invalid("destination", network.status().message());
  const bool v4 = network->address().is_v4();
  const int widest = v4 ? kWidestAbuseSearchV4 : kWidestAbuseSearchV6;
  if (network->prefix_length() < widest) {
    return Invalid("destination",
                   absl::StrCat("at most a /", widest, " network for IPv", v4 ? "4" : "6",
                                ", got /", network->prefix_length()));
  }
  return network;
}

absl::StatusOr<AbuseMatchKey> KeyFromToken(const std::string& token) {
  EGRESS_ASSIGN_OR_RETURN(std::string cursor, DecodePageToken(token, kAbusePageKind, "page_token"));
  const std::vector<std::string> parts = absl::StrSplit(cursor, '\n');
  AbuseMatchKey key;
  int action = 0;
  absl::StatusOr<absl::CivilDay> day =
      parts.size() == 3 ? ParseDay(parts[0]) : absl::InvalidArgumentError("");
  if (!day.ok() || !absl::SimpleAtoi(parts[2], &action) || !ActionFromNumber(action).has_value() ||
      !ValidateIdField(parts[1], "page_token").ok()) {
    return Invalid("page_token", "is not a token of this list");
  }
  key.day = *day;
  key.account_id = parts[1];
  key.action = *ActionFromNumber(action);
  return key;
}

}  // namespace

absl::StatusOr<DestinationSearch> SearchFromRequest(
    const egress::v1::FindConnectionsRequest& request, absl::CivilDay latest_day) {
  EGRESS_ASSIGN_OR_RETURN(IpNetwork destination, Destination(request.destination()));
  DestinationSearch search(destination);
  if (request.protocol() != egress::v1::PROTOCOL_UNSPECIFIED) {
    std::optional<Protocol> protocol = ProtocolFromProto(request.protocol());
    if (!protocol.has_value()) return Invalid("protocol", "is not a known protocol");
    search.protocol = *protocol;
  }
  if (request.port() > 65535) return Invalid("port", "must be 0 (every port) or 1..65535");
  search.port = static_cast<int>(request.port());
  if (search.port != 0 && search.protocol != Protocol::kAny && search.protocol != Protocol::kTcp &&
      search.protocol != Protocol::kUdp) {
    return Invalid("port", "applies to tcp and udp only");
  }
  search.last_day = latest_day;
  if (request.has_end_date()) {
    EGRESS_ASSIGN_OR_RETURN(search.last_day, DayFromProto(request.end_date(), "end_date"));
    if (search.last_day > latest_day) return Invalid("end_date", "is in the future");
  }
  search.first_day = search.last_day - 29;
  if (request.has_start_date()) {
    EGRESS_ASSIGN_OR_RETURN(search.first_day, DayFromProto(request.start_date(), "start_date"));
    if (search.first_day > search.last_day) return Invalid("start_date", "is after end_date");
  }
  if (search.last_day - search.first_day >= kMaxAbuseSearchDays) {
    return Invalid("start_date",
                   absl::StrCat("the range spans more than ", kMaxAbuseSearchDays, " days"));
  }
  if (!request.egress_address().empty()) {
    absl::StatusOr<IpAddress> address = IpAddress::Parse(request.egress_address());
    if (!address.ok()) return Invalid("egress_address", address.status().message());
    if (address->is_v4() != search.destination.address().is_v4()) {
      return Invalid("egress_address", "must be of the destination's address family");
    }
    search.egress_address = *address;
  }
  EGRESS_ASSIGN_OR_RETURN(search.limit, ResolvePageSize(request.page_size(), "page_size"));
  if (!request.page_token().empty()) {
    EGRESS_ASSIGN_OR_RETURN(search.after, KeyFromToken(request.page_token()));
  }
  return search;
}

std::string AbusePageToken(const AbuseMatchKey& last) {
  return EncodePageToken(kAbusePageKind, absl::StrCat(FormatDay(last.day), "\n", last.account_id,
                                                      "\n", static_cast<int>(last.action)));
}

void AbuseMatchToProto(const AbuseMatchRow& row, egress::v1::AbuseMatch* match) {
  match->set_account_id(row.key.account_id);
  for (const std::string& node : row.node_ids) match->add_node_ids(node);
  DayToProto(row.key.day, match->mutable_date());
  match->set_action(ActionToProto(row.key.action));
  match->set_count(row.count);
  match->set_destinations(row.destinations);
  TimeToProto(row.first_seen, match->mutable_first_seen());
  TimeToProto(row.last_seen, match->mutable_last_seen());
  for (const IpAddress& address : row.egress_addresses) {
    match->add_egress_addresses(address.ToString());
  }
}

}  // namespace egress
