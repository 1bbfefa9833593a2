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
#include "service/domain/abuse_policy.h"
#include "service/domain/actor.h"
#include "service/storage/abuse_lock_sql.h"

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

// A condition the detector found over its threshold.
struct AbuseIncidentReport {
  std::string account_id;
  std::string node_id;
  // AbuseKindName.
  std::string kind;
  std::string detail;
  std::vector<uint16_t> ports;
  absl::Time at;
  // Set the abuse lock when the incident is new (nullopt: alert only).
  std::optional<AbuseLockWrite> lock;
};

struct AbuseIncidentOutcome {
  // False: an incident of this (account, kind) is open already (it was
  // seen again), or support lifted the lock less than a window ago.
  bool opened = false;
  uint64_t incident_id = 0;
  // The lock changed (set or widened).
  bool locked = false;
};

struct AbuseIncidentRecord {
  uint64_t incident_id = 0;
  std::string account_id;
  std::string node_id;
  std::string kind;
  std::string detail;
  std::vector<uint16_t> ports;
  absl::Time opened_at;
  absl::Time last_seen_at;
  std::optional<absl::Time> closed_at;
  // "", "quiet" or "lifted".
  std::string closed_why;
  // "all", "port" or "" (alert only).
  std::string lock;
};

// Thread-safe; UNAVAILABLE / INTERNAL as in database.h.
class AbuseStore {
 public:
  virtual ~AbuseStore() = default;
  // At most `limit` matches after `after`, ordered by key.
  virtual absl::StatusOr<std::vector<AbuseMatchRow>> FindConnections(
      const DestinationSearch& search) = 0;

  // One transaction under the account's row lock: opens an incident unless
  // one of the kind is open (then only its last_seen_at moves) or the
  // account's abuse lock was lifted within kAbuseWindow of `report.at`;
  // a new incident is audited ("abuse.incident") and, with `report.lock`,
  // sets or widens the abuse lock as `actor`. NOT_FOUND when the account is
  // gone (or moved off the node).
  virtual absl::StatusOr<AbuseIncidentOutcome> ReportIncident(const AbuseIncidentReport& report,
                                                              const Actor& actor) = 0;
  // The webhook receiver acknowledged the incident (or there was nothing to
  // send).
  virtual absl::Status MarkNotified(uint64_t incident_id) = 0;
  // Incidents opened after `since` and not yet notified, oldest first.
  virtual absl::StatusOr<std::vector<AbuseIncidentRecord>> ListUnnotified(absl::Time since,
                                                                          int limit) = 0;
  // Closes ('quiet') the incidents not seen since `before`; returns how many.
  virtual absl::StatusOr<int> CloseQuietIncidents(absl::Time before) = 0;
  // The account's incidents, newest first (at most `limit`). NOT_FOUND for
  // an unknown account.
  virtual absl::StatusOr<std::vector<AbuseIncidentRecord>> ListIncidents(
      const std::string& account_id, int limit) = 0;

  // Every override in force.
  virtual absl::StatusOr<AbusePolicySet> LoadPolicies() = 0;
  // One scope's override (all unset when none was stored). `id`: "" for the
  // default scope, else the node or account (NOT_FOUND naming it when it
  // does not exist).
  virtual absl::StatusOr<AbusePolicyOverride> GetPolicy(AbuseScope scope,
                                                        const std::string& id) = 0;
  // Replaces one scope's override (validated before), audited in the log
  // under the account for the account scope. An override with nothing set
  // removes the scope's row. NOT_FOUND as GetPolicy.
  virtual absl::Status SetPolicy(AbuseScope scope, const std::string& id,
                                 const AbusePolicyOverride& policy, const Actor& actor) = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_ABUSE_STORE_H_
