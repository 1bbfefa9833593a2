// Recorded connections of one account, as the panel reads them: the dates
// with data, one day's rows, and per-day totals. The store interface the
// ConnectionsService is written against; implemented on PostgreSQL by
// PgConnectionsStore. Read-only: ingest writes these tables.
#ifndef EGRESS_SERVICE_STORAGE_CONNECTIONS_STORE_H_
#define EGRESS_SERVICE_STORAGE_CONNECTIONS_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/action.h"
#include "common/ip_address.h"
#include "common/protocol.h"

namespace egress {

// What the enrichment knows about an address (ip_info). `status` uses the
// IpInfo.Status numbers: 1 pending (also when there is no row yet), 2 ok,
// 3 no PTR, 4 temporary failure.
struct DestinationInfo {
  int status = 1;
  std::string ptr;
  bool ptr_confirmed = false;
  uint32_t asn = 0;
  std::string as_name;
  std::string country;
  // CIDR text, "" if unknown.
  std::string network;
  std::optional<absl::Time> looked_up_at;
};

// Totals of one civil day (account_day_totals).
struct DaySummary {
  absl::CivilDay day;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  // The account's node reported lost events that day (node_day_losses).
  bool incomplete = false;
};

// Record actions, as stored: 1 ACCEPT, 2 REJECT.
// The action of a recorded connection (common/action.h).
using RecordAction = Action;

enum class ConnectionOrder { kCount, kIp, kPort, kLastSeen };

// Rows are ordered by the primary column (count, IP, port or last seen) in
// `descending` direction, ties broken by (ip, protocol, port, action)
// ascending; for kIp the whole key follows `descending`. The key is unique
// within a day, so keyset pages never skip nor repeat a row.
struct ConnectionCursor {
  // count, port or last-seen microseconds since the epoch; unused for kIp.
  int64_t primary = 0;
  IpAddress ip;
  int protocol = 0;
  int port = 0;
  int action = 0;
};

// Exactly one kind of IP filter (or none).
struct IpFilter {
  enum class Kind { kNone, kNetwork, kTextPrefix };
  Kind kind = Kind::kNone;
  // kNetwork: the addresses inside it (an exact address is its host network).
  std::optional<IpNetwork> network;
  // kTextPrefix: a prefix of the canonical text form ("203.0.", "2001:db8:"),
  // lower case, made only of [0-9a-f.:]. Matched literally.
  std::string prefix;
};

struct ConnectionQuery {
  std::string account_id;
  absl::CivilDay day;
  IpFilter filter;
  std::optional<RecordAction> action;
  ConnectionOrder order = ConnectionOrder::kCount;
  bool descending = true;
  // Rows strictly after this key in the order above; none: from the start.
  std::optional<ConnectionCursor> after;
  // Rows returned at most.
  int limit = 100;
  // The filters' row count as read with the first page (carried by the page
  // token): set, the store returns it as total_rows without counting again.
  std::optional<uint64_t> known_total;
};

struct ConnectionRow {
  IpAddress ip;
  DestinationInfo ip_info;
  Protocol protocol = Protocol::kTcp;
  int port = 0;
  RecordAction action = RecordAction::kAccept;
  uint64_t count = 0;
  absl::Time first_seen;
  absl::Time last_seen;
  // Rules of the account covering the row (network contains the IP,
  // protocol any or equal, port 0 or equal), ascending.
  std::vector<uint64_t> blocking_rule_ids;
  // The account's rule for exactly this address, any protocol, any port; 0
  // if none.
  uint64_t address_rule_id = 0;
  // The row's position in the order, for the next page's cursor.
  ConnectionCursor cursor;
};

struct ConnectionPage {
  std::vector<ConnectionRow> rows;
  // Rows matching the filters (counted with the first page; on later pages
  // query.known_total when set).
  uint64_t total_rows = 0;
  bool incomplete = false;
};

// Thread-safe. Every method reads one consistent snapshot, is keyed by the
// account and fails with NOT_FOUND when the account does not exist.
// UNAVAILABLE / INTERNAL as in database.h.
class ConnectionsStore {
 public:
  virtual ~ConnectionsStore() = default;

  // Days with at least one recorded connection, newest first.
  virtual absl::StatusOr<std::vector<DaySummary>> ListDates(const std::string& account_id) = 0;

  // One page of a day's rows (query.limit at most) and the filter's total.
  virtual absl::StatusOr<ConnectionPage> ListConnections(const ConnectionQuery& query) = 0;

  // Every row of `query` in its order (query.after, limit and known_total
  // are ignored), read from one snapshot in batches of at most `batch_rows`
  // rows, so memory holds one batch whatever the day's size. `sink` gets
  // each batch (it may move rows out); it is called at least once (with no
  // rows for an empty day) once the account is known to exist. A non-OK
  // status from `sink` stops the read and is returned as is. Holds one
  // database connection until it returns.
  using RowBatchSink = std::function<absl::Status(std::vector<ConnectionRow>& rows)>;
  virtual absl::Status ExportConnections(const ConnectionQuery& query, int batch_rows,
                                         const RowBatchSink& sink) = 0;

  // Days with data in [from, to], oldest first.
  virtual absl::StatusOr<std::vector<DaySummary>> DailyCounts(const std::string& account_id,
                                                              absl::CivilDay from,
                                                              absl::CivilDay to) = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_CONNECTIONS_STORE_H_
