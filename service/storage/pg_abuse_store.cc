#include "service/storage/pg_abuse_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/civil_day.h"
#include "common/status_macros.h"
#include "pqxx/pqxx"
#include "service/storage/pg_values.h"

namespace egress {
namespace {

// One statement (one snapshot, no transaction block), prepared once per
// pooled connection. The matching rows come through connection_daily's
// (ip, day) index (`<<=` on inet is a range scan of it); they are grouped per
// (day, account, action) before the history is joined, so the joins run
// once per group, not once per destination row. An account's address row
// with a NULL address means "the node's server address", which the second
// join supplies for the part of the interval both rows cover.
//   $1 destination  $2 first day  $3 last day  $4 protocol (0: any)
//   $5 port (0: any)  $6..$8 page key after (day, account, action)
//   $9 family  $10 egress address or NULL  $11 limit
constexpr char kFindConnections[] = R"sql(
WITH m AS (
  SELECT c.day, c.account_id, c.action, sum(c.count)::int8 AS count,
         count(*)::int8 AS destinations, min(c.first_seen) AS first_seen,
         max(c.last_seen) AS last_seen
    FROM connection_daily c
   WHERE c.ip <<= $1::inet AND c.day BETWEEN $2::date AND $3::date
     AND ($4::int = 0 OR c.protocol = $4::int) AND ($5::int = 0 OR c.port = $5::int)
     AND (c.day, c.account_id, c.action) > ($6::date, $7::text, $8::int)
   GROUP BY c.day, c.account_id, c.action
), used AS (
  SELECT m.day, m.account_id, m.action, l.node_id, coalesce(l.address, n.address) AS egress
    FROM m
    LEFT JOIN egress_account_address_log l
           ON l.account_id = m.account_id AND l.family = $9::int
          AND l.valid_from <= m.last_seen
          AND (l.valid_until IS NULL OR l.valid_until > m.first_seen)
    LEFT JOIN egress_node_address_log n
           ON l.address IS NULL AND n.node_id = l.node_id AND n.family = $9::int
          AND n.valid_from <= m.last_seen
          AND (n.valid_until IS NULL OR n.valid_until > m.first_seen)
          AND (l.valid_until IS NULL OR n.valid_from < l.valid_until)
          AND (n.valid_until IS NULL OR n.valid_until > l.valid_from)
), grouped AS (
  SELECT day, account_id, action,
         coalesce(string_agg(DISTINCT node_id, ' '), '') AS node_ids,
         coalesce(string_agg(DISTINCT host(egress), ' '), '') AS egress,
         bool_or(egress = $10::inet) AS used_filter
    FROM used
   GROUP BY day, account_id, action
)
SELECT m.day::text, m.account_id, m.action, m.count, m.destinations,
       (extract(epoch FROM m.first_seen) * 1000000)::int8,
       (extract(epoch FROM m.last_seen) * 1000000)::int8, g.node_ids, g.egress
  FROM m JOIN grouped g USING (day, account_id, action)
 WHERE $10::inet IS NULL OR g.used_filter
 ORDER BY m.day, m.account_id, m.action
 LIMIT $11::int)sql";

absl::StatusOr<AbuseMatchRow> MatchFromRow(const pqxx::row& row) {
  AbuseMatchRow match;
  absl::StatusOr<absl::CivilDay> day = ParseDay(row[0].c_str());
  if (!day.ok()) return absl::InternalError(absl::StrCat("bad day in database: ", row[0].c_str()));
  match.key.day = *day;
  match.key.account_id = row[1].c_str();
  std::optional<Action> action = ActionFromNumber(row[2].as<int>());
  if (!action.has_value()) return absl::InternalError("bad action in connection_daily");
  match.key.action = *action;
  match.count = row[3].as<uint64_t>();
  match.destinations = row[4].as<uint64_t>();
  match.first_seen = absl::FromUnixMicros(row[5].as<int64_t>());
  match.last_seen = absl::FromUnixMicros(row[6].as<int64_t>());
  for (absl::string_view node : absl::StrSplit(row[7].c_str(), ' ', absl::SkipEmpty())) {
    match.node_ids.emplace_back(node);
  }
  for (absl::string_view text : absl::StrSplit(row[8].c_str(), ' ', absl::SkipEmpty())) {
    EGRESS_ASSIGN_OR_RETURN(IpAddress address, IpFromPg(text));
    match.egress_addresses.push_back(address);
  }
  return match;
}

}  // namespace

absl::StatusOr<std::vector<AbuseMatchRow>> PgAbuseStore::FindConnections(
    const DestinationSearch& search) {
  const std::string destination = search.destination.ToString();
  const std::string first_day = FormatDay(search.first_day);
  const std::string last_day = FormatDay(search.last_day);
  const int protocol = search.protocol == Protocol::kAny ? 0 : static_cast<int>(search.protocol);
  // The first page starts before every real key: an early day, the empty
  // id, action 0.
  const std::string after_day =
      search.after.has_value() ? FormatDay(search.after->day) : std::string("0001-01-01");
  const std::string after_account = search.after.has_value() ? search.after->account_id : "";
  const int after_action = search.after.has_value() ? static_cast<int>(search.after->action) : 0;
  const int family = search.destination.address().is_v4() ? 4 : 6;
  const std::string egress =
      search.egress_address.has_value() ? search.egress_address->ToString() : "";
  std::vector<AbuseMatchRow> matches;
  EGRESS_RETURN_IF_ERROR(
      database_.WithConnection([&](pqxx::connection& connection) -> absl::Status {
        connection.prepare("abuse_find_connections", kFindConnections);
        pqxx::nontransaction txn(connection);
        pqxx::result rows =
            txn.exec_prepared("abuse_find_connections", destination, first_day, last_day, protocol,
                              search.port, after_day, after_account, after_action, family,
                              egress.empty() ? nullptr : egress.c_str(), search.limit);
        matches.reserve(rows.size());
        for (const pqxx::row& row : rows) {
          EGRESS_ASSIGN_OR_RETURN(AbuseMatchRow match, MatchFromRow(row));
          matches.push_back(std::move(match));
        }
        return absl::OkStatus();
      }));
  return matches;
}

}  // namespace egress
