// The abuse desk's reads: which accounts connected to a destination, with
// the node they were on and the egress address they used then. The store
// interface AbuseService is written against; PgAbuseStore implements it.
#ifndef EGRESS_SERVICE_STORAGE_ABUSE_STORE_H_
#define EGRESS_SERVICE_STORAGE_ABUSE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/action.h"
#include "common/ip_address.h"
#include "common/protocol.h"

namespace egress {

// Matches are ordered by (day, account, action); a page continues after
// this key.
struct AbuseMatchKey {
  absl::CivilDay day;
  std::string account_id;
  Action action = Action::kAccept;
};

struct DestinationSearch {
  explicit DestinationSearch(IpNetwork network) : destination(network) {}

  IpNetwork destination;
  // kAny: every protocol.
  Protocol protocol = Protocol::kAny;
  // 0: every port.
  int port = 0;
  absl::CivilDay first_day;
  absl::CivilDay last_day;
  // Only accounts whose egress address of the destination's family was this
  // one (same family as the destination).
  std::optional<IpAddress> egress_address;
  std::optional<AbuseMatchKey> after;
  int limit = 100;
};

struct AbuseMatchRow {
  AbuseMatchKey key;
  std::vector<std::string> node_ids;
  uint64_t count = 0;
  uint64_t destinations = 0;
  absl::Time first_seen;
  absl::Time last_seen;
  std::vector<IpAddress> egress_addresses;
};

class AbuseStore {
 public:
  virtual ~AbuseStore() = default;
  // At most `limit` matches after `after`, ordered by key.
  virtual absl::StatusOr<std::vector<AbuseMatchRow>> FindConnections(
      const DestinationSearch& search) = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_ABUSE_STORE_H_
