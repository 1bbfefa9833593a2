#include "service/storage/pg_connections_store.h"

#include <array>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/civil_day.h"
#include "common/status_macros.h"
#include "service/storage/pg_values.h"

namespace egress {

const char kIpInfoColumns[] = R"sql(
       i.status, i.ptr, i.ptr_confirmed, i.asn, i.as_name, i.country, i.network::text,
       (extract(epoch FROM i.looked_up_at) * 1000000)::int8)sql";

namespace {

// Each read is one statement, so it sees one snapshot (a page and its
// total agree) in a single round trip; run outside a transaction block,
// which saves the BEGIN and COMMIT round trips. The account row comes first: no row
// means NOT_FOUND; an account without data yields one row of NULLs.

// Days come from the per-(account, day) summary kept by ingest, so these
// stay sub-millisecond whatever the size of connection_daily.
//   $1 account  $2 first day  $3 last day
constexpr char kDaysPrefix[] = R"sql(
SELECT t.day::text, t.accepted, t.rejected,
       EXISTS (SELECT 1 FROM node_day_losses l WHERE l.node_id = a.node_id AND l.day = t.day)
  FROM accounts a
  LEFT JOIN account_day_totals t
         ON t.account_id = a.account_id AND t.day BETWEEN $2::date AND $3::date
        AND (t.accepted > 0 OR t.rejected > 0)
 WHERE a.account_id = $1
 ORDER BY t.day)sql";
constexpr char kNewestFirst[] = " DESC";
const absl::CivilDay kMinDay(1970, 1, 1);
const absl::CivilDay kMaxDay(9999, 12, 31);

// The filters of ListConnections, shared by the page and its total. Unused
// filters are NULL parameters, which the planner folds away (the unnamed
// statements of exec_params are planned with their values). A network
// filter is spelled as a key range as well as `<<=`, so it is a range scan
// of the primary key (account_id, day, ip, ...).
//   $1 account  $2 day  $3 first address  $4 last address  $5 network
//   $6 LIKE pattern of host(ip)  $7 action
constexpr char kConnectionsFilter[] = R"sql(
 WHERE c.account_id = $1 AND c.day = $2::date
   AND ($5::inet IS NULL OR (c.ip >= $3::inet AND c.ip <= $4::inet AND c.ip <<= $5::inet))
   AND ($6::text IS NULL OR host(c.ip) LIKE $6::text ESCAPE '\')
   AND ($7::int2 IS NULL OR c.action = $7::int2))sql";

// The page: the day's rows are ordered and cut in the inner query, and only
// the page's rows are joined to ip_info and to the account's rules.
//   $8 cursor primary value  $9..$12 cursor (ip, protocol, port, action)
//   (all NULL on the first page)  $13 limit
constexpr char kPageInnerPrefix[] = R"sql(
SELECT c.account_id, c.ip, c.protocol, c.port, c.action, c.count, c.first_seen, c.last_seen)sql";
constexpr char kPageInnerFrom[] = "\n  FROM connection_daily c";

// The account, whether the day is incomplete and (unless the page token
// carries it) the filter's total, then the page's rows (NULLs when the page
// is empty) in `pos` order.
// MATERIALIZED: the account row and its EXISTS are evaluated once, not per
// page row.
constexpr char kPageHead[] = R"sql(
WITH head AS MATERIALIZED (
  SELECT a.node_id,
         EXISTS (SELECT 1 FROM node_day_losses l
                  WHERE l.node_id = a.node_id AND l.day = $2::date) AS incomplete,
         )sql";
constexpr char kHeadCount[] = "(SELECT count(*) FROM connection_daily c";
constexpr char kHeadNoCount[] = "NULL::int8";

constexpr char kPageHeadEnd[] = R"sql( AS total
    FROM accounts a WHERE a.account_id = $1)
SELECT h.incomplete, h.total, p.*
  FROM head h
  LEFT JOIN LATERAL (
SELECT host(c.ip), c.protocol, c.port, c.action, c.count,
       (extract(epoch FROM c.first_seen) * 1000000)::int8,
       (extract(epoch FROM c.last_seen) * 1000000)::int8,
       (SELECT coalesce(string_agg(r.rule_id::text, ' ' ORDER BY r.rule_id), '')
          FROM block_rules r
         WHERE r.account_id = c.account_id AND r.network >>= c.ip
           AND r.protocol IN (0, c.protocol) AND r.port IN (0, c.port)),
       (SELECT r.rule_id FROM block_rules r
         WHERE r.account_id = c.account_id AND r.network = c.ip::cidr
           AND r.protocol = 0 AND r.port = 0),)sql";

// Where a page's total comes from. (Counting in the page's own scan with
// count(*) OVER () was measured slower than a separate count: the window
// materializes every matching row before the top-N sort.)
enum class TotalSource {
  kCount,  // the first page (or a token without a total): counted
  kKnown,  // a later page: the first page's total, from its token
};

// One ordering of ListConnections: the primary column, its cursor value,
// comparison operators for "after the cursor", and the ORDER BY list. Made
// only of these constants; user input only ever travels as parameters.
struct Ordering {
  const char* primary;
  const char* cursor_value;
  const char* primary_after;
  const char* tuple_after;
  const char* order_by;
};

constexpr char kTuple[] = "(c.ip, c.protocol, c.port, c.action)";
constexpr char kCursorTuple[] = "($9::inet, $10::int2, $11::int4, $12::int2)";
constexpr char kLastSeenValue[] = "('epoch'::timestamptz + $8::int8 * interval '1 microsecond')";

// Indexed by [order][descending].
constexpr Ordering kOrderings[4][2] = {
    // kCount
    {{"c.count", "$8::int8", ">", ">", "c.count, c.ip, c.protocol, c.port, c.action"},
     {"c.count", "$8::int8", "<", ">", "c.count DESC, c.ip, c.protocol, c.port, c.action"}},
    // kIp: no primary column; "$8 = $8" reduces the condition to the tuple.
    {{"$8::int8", "$8::int8", ">", ">", "c.ip, c.protocol, c.port, c.action"},
     {"$8::int8", "$8::int8", "<", "<", "c.ip DESC, c.protocol DESC, c.port DESC, c.action DESC"}},
    // kPort
    {{"c.port", "$8::int8", ">", ">", "c.port, c.ip, c.protocol, c.action"},
     {"c.port", "$8::int8", "<", ">", "c.port DESC, c.ip, c.protocol, c.action"}},
    // kLastSeen
    {{"c.last_seen", kLastSeenValue, ">", ">", "c.last_seen, c.ip, c.protocol, c.port, c.action"},
     {"c.last_seen", kLastSeenValue, "<", ">",
      "c.last_seen DESC, c.ip, c.protocol, c.port, c.action"}},
};

std::string BuildPageSql(const Ordering& o, TotalSource source) {
  const std::string after =
      absl::StrCat(" AND ($9::inet IS NULL OR ", o.primary, " ", o.primary_after, " ",
                   o.cursor_value, " OR (", o.primary, " = ", o.cursor_value, " AND ", kTuple, " ",
                   o.tuple_after, " ", kCursorTuple, "))");
  const std::string head_total = source == TotalSource::kCount
                                     ? absl::StrCat(kHeadCount, kConnectionsFilter, ")")
                                     : std::string(kHeadNoCount);
  return absl::StrCat(
      kPageHead, head_total, kPageHeadEnd, kIpInfoColumns, ",\n       row_number() OVER (ORDER BY ",
      o.order_by, ") AS pos", "\n  FROM (", kPageInnerPrefix, kPageInnerFrom, kConnectionsFilter,
      after, "\n ORDER BY ", o.order_by,
      " LIMIT $13) c\n  LEFT JOIN ip_info i ON i.ip = c.ip) p ON true", "\n ORDER BY p.pos");
}

const std::string& PageSql(ConnectionOrder order, bool descending, TotalSource source) {
  static const std::array<std::array<std::array<std::string, 2>, 2>, 4>* const kSql = [] {
    auto* sql = new std::array<std::array<std::array<std::string, 2>, 2>, 4>();
    for (int i = 0; i < 4; ++i) {
      for (int d = 0; d < 2; ++d) {
        for (int t = 0; t < 2; ++t) {
          (*sql)[i][d][t] = BuildPageSql(kOrderings[i][d], static_cast<TotalSource>(t));
        }
      }
    }
    return sql;
  }();
  return (*kSql)[static_cast<int>(order)][descending ? 1 : 0][static_cast<int>(source)];
}

const char* NullableText(const std::optional<std::string>& value) {
  return value.has_value() ? value->c_str() : nullptr;
}

// LIKE matches `prefix` literally, then anything.
std::string LikePrefixPattern(absl::string_view prefix) {
  std::string pattern;
  for (char c : prefix) {
    if (c == '\\' || c == '%' || c == '_') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

absl::Status AccountNotFound(const std::string& account_id) {
  return absl::NotFoundError(absl::StrCat("account \"", account_id, "\" does not exist"));
}

// Rows of kDaysPrefix: none when the account does not exist, one row of
// NULLs when it has no days.
absl::StatusOr<std::vector<DaySummary>> DaysFromResult(const pqxx::result& result,
                                                       const std::string& account_id) {
  if (result.empty()) return AccountNotFound(account_id);
  std::vector<DaySummary> days;
  days.reserve(result.size());
  for (const pqxx::row& row : result) {
    if (row[0].is_null()) continue;
    absl::StatusOr<absl::CivilDay> day = ParseDay(row[0].c_str());
    if (!day.ok())
      return absl::InternalError(absl::StrCat("bad day in database: ", row[0].c_str()));
    days.push_back(
        DaySummary{*day, row[1].as<uint64_t>(), row[2].as<uint64_t>(), row[3].as<bool>()});
  }
  return days;
}

// Page columns start at kPageFirstColumn (after incomplete and total).
constexpr int kPageFirstColumn = 2;

absl::StatusOr<ConnectionRow> ConnectionFromRow(const pqxx::row& full, ConnectionOrder order) {
  const pqxx::row row = full.slice(kPageFirstColumn, full.size());
  ConnectionRow out;
  EGRESS_ASSIGN_OR_RETURN(out.ip, IpFromPg(row[0].c_str()));
  absl::StatusOr<Protocol> protocol = ProtocolFromNumber(row[1].as<int>());
  if (!protocol.ok()) return absl::InternalError("bad protocol in connection_daily");
  out.protocol = *protocol;
  out.port = row[2].as<int>();
  out.action = static_cast<RecordAction>(row[3].as<int>());
  out.count = row[4].as<uint64_t>();
  const int64_t last_seen_us = row[6].as<int64_t>();
  out.first_seen = absl::FromUnixMicros(row[5].as<int64_t>());
  out.last_seen = absl::FromUnixMicros(last_seen_us);
  for (absl::string_view id : absl::StrSplit(row[7].c_str(), ' ', absl::SkipEmpty())) {
    uint64_t rule_id = 0;
    if (!absl::SimpleAtoi(id, &rule_id)) return absl::InternalError("bad rule id");
    out.blocking_rule_ids.push_back(rule_id);
  }
  if (!row[8].is_null()) out.address_rule_id = row[8].as<uint64_t>();
  EGRESS_ASSIGN_OR_RETURN(out.ip_info, IpInfoFromRow(row, 9));
  out.cursor.ip = out.ip;
  out.cursor.protocol = row[1].as<int>();
  out.cursor.port = out.port;
  out.cursor.action = row[3].as<int>();
  switch (order) {
    case ConnectionOrder::kCount:
      out.cursor.primary = row[4].as<int64_t>();
      break;
    case ConnectionOrder::kIp:
      out.cursor.primary = 0;
      break;
    case ConnectionOrder::kPort:
      out.cursor.primary = out.port;
      break;
    case ConnectionOrder::kLastSeen:
      out.cursor.primary = last_seen_us;
      break;
  }
  return out;
}

}  // namespace

absl::StatusOr<DestinationInfo> IpInfoFromRow(const pqxx::row& row, int column) {
  DestinationInfo info;
  if (row[column].is_null()) return info;  // not looked up yet: pending
  info.status = row[column].as<int>();
  info.ptr = row[column + 1].as<std::string>();
  info.ptr_confirmed = row[column + 2].as<bool>();
  info.asn = row[column + 3].as<uint32_t>();
  info.as_name = row[column + 4].as<std::string>();
  info.country = row[column + 5].as<std::string>();
  if (!row[column + 6].is_null()) info.network = row[column + 6].as<std::string>();
  if (!row[column + 7].is_null()) {
    info.looked_up_at = absl::FromUnixMicros(row[column + 7].as<int64_t>());
  }
  return info;
}

absl::StatusOr<std::vector<DaySummary>> PgConnectionsStore::ListDates(
    const std::string& account_id) {
  static const std::string* const kSql = new std::string(absl::StrCat(kDaysPrefix, kNewestFirst));
  std::vector<DaySummary> days;
  EGRESS_RETURN_IF_ERROR(
      database_.WithConnection([&](pqxx::connection& connection) -> absl::Status {
        pqxx::nontransaction txn(connection);
        EGRESS_ASSIGN_OR_RETURN(
            days, DaysFromResult(
                      txn.exec_params(*kSql, account_id, FormatDay(kMinDay), FormatDay(kMaxDay)),
                      account_id));
        return absl::OkStatus();
      }));
  return days;
}

absl::StatusOr<std::vector<DaySummary>> PgConnectionsStore::DailyCounts(
    const std::string& account_id, absl::CivilDay from, absl::CivilDay to) {
  std::vector<DaySummary> days;
  EGRESS_RETURN_IF_ERROR(
      database_.WithConnection([&](pqxx::connection& connection) -> absl::Status {
        pqxx::nontransaction txn(connection);
        EGRESS_ASSIGN_OR_RETURN(
            days,
            DaysFromResult(txn.exec_params(kDaysPrefix, account_id, FormatDay(from), FormatDay(to)),
                           account_id));
        return absl::OkStatus();
      }));
  return days;
}

absl::StatusOr<ConnectionPage> PgConnectionsStore::ListConnections(const ConnectionQuery& query) {
  const std::string day = FormatDay(query.day);
  std::optional<std::string> first, last, network, pattern, action;
  if (query.filter.kind == IpFilter::Kind::kNetwork && query.filter.network.has_value()) {
    first = query.filter.network->address().ToString();
    last = query.filter.network->LastAddress().ToString();
    network = query.filter.network->ToString();
  }
  if (query.filter.kind == IpFilter::Kind::kTextPrefix) {
    pattern = LikePrefixPattern(query.filter.prefix);
  }
  if (query.action.has_value()) action = std::to_string(static_cast<int>(*query.action));
  std::optional<std::string> c_primary, c_ip, c_protocol, c_port, c_action;
  if (query.after.has_value()) {
    c_primary = std::to_string(query.after->primary);
    c_ip = query.after->ip.ToString();
    c_protocol = std::to_string(query.after->protocol);
    c_port = std::to_string(query.after->port);
    c_action = std::to_string(query.after->action);
  }
  const TotalSource source = query.after.has_value() && query.known_total.has_value()
                                 ? TotalSource::kKnown
                                 : TotalSource::kCount;
  ConnectionPage page;
  EGRESS_RETURN_IF_ERROR(
      database_.WithConnection([&](pqxx::connection& connection) -> absl::Status {
        pqxx::nontransaction txn(connection);
        pqxx::result rows = txn.exec_params(
            PageSql(query.order, query.descending, source), query.account_id, day,
            NullableText(first), NullableText(last), NullableText(network), NullableText(pattern),
            NullableText(action), NullableText(c_primary), NullableText(c_ip),
            NullableText(c_protocol), NullableText(c_port), NullableText(c_action), query.limit);
        if (rows.empty()) return AccountNotFound(query.account_id);
        page.incomplete = rows[0][0].as<bool>();
        page.total_rows =
            source == TotalSource::kKnown ? *query.known_total : rows[0][1].as<uint64_t>();
        page.rows.reserve(rows.size());
        for (const pqxx::row& row : rows) {
          if (row[kPageFirstColumn].is_null()) continue;  // the account has no such rows
          EGRESS_ASSIGN_OR_RETURN(ConnectionRow parsed, ConnectionFromRow(row, query.order));
          page.rows.push_back(std::move(parsed));
        }
        return absl::OkStatus();
      }));
  return page;
}

}  // namespace egress
