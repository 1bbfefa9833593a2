#include "service/storage/pg_connections_store.h"

#include <functional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/civil_day.h"
#include "common/status_macros.h"
#include "service/storage/connection_page_sql.h"
#include "service/storage/not_found.h"
#include "service/storage/pg_values.h"

namespace egress {

const char kIpInfoColumns[] = R"sql(
       i.status, i.ptr, i.ptr_confirmed, i.asn, i.as_name, i.country, i.network::text,
       (extract(epoch FROM i.looked_up_at) * 1000000)::int8)sql";

namespace {

// Each read is one statement, so it sees one snapshot (a page and its
// total agree) in a single round trip; run outside a transaction block,
// which saves the BEGIN and COMMIT round trips; prepared once per pooled
// connection, which saves planning on every call. The account row comes first: no row
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
//   $1 account
constexpr char kAccountExists[] = "SELECT 1 FROM accounts WHERE account_id = $1";
constexpr char kExportCursor[] = "egress_export";
const absl::CivilDay kMinDay(1970, 1, 1);
const absl::CivilDay kMaxDay(9999, 12, 31);

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

// The row columns of connection_page_sql.h, starting at column `first`.
absl::StatusOr<ConnectionRow> ConnectionFromRow(const pqxx::row& full, int first,
                                                ConnectionOrder order) {
  const pqxx::row row = full.slice(first, full.size());
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
        connection.prepare("list_dates", *kSql);
        pqxx::nontransaction txn(connection);
        EGRESS_ASSIGN_OR_RETURN(
            days, DaysFromResult(txn.exec_prepared("list_dates", account_id, FormatDay(kMinDay),
                                                   FormatDay(kMaxDay)),
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
        connection.prepare("daily_counts", kDaysPrefix);
        pqxx::nontransaction txn(connection);
        EGRESS_ASSIGN_OR_RETURN(
            days, DaysFromResult(
                      txn.exec_prepared("daily_counts", account_id, FormatDay(from), FormatDay(to)),
                      account_id));
        return absl::OkStatus();
      }));
  return days;
}

absl::StatusOr<ConnectionPage> PgConnectionsStore::ListConnections(const ConnectionQuery& query) {
  const PageStatement statement = BuildPageStatement(query);
  // One prepared statement per shape and pooled connection (the name is
  // the text's hash; pqxx prepares it on the connection's first use).
  const std::string name =
      absl::StrCat("list_connections_", absl::Hex(std::hash<std::string>{}(statement.sql)));
  std::vector<const char*> params;
  params.reserve(statement.params.size());
  for (const std::optional<std::string>& value : statement.params) {
    params.push_back(value.has_value() ? value->c_str() : nullptr);
  }
  ConnectionPage page;
  EGRESS_RETURN_IF_ERROR(
      database_.WithConnection([&](pqxx::connection& connection) -> absl::Status {
        connection.prepare(name, statement.sql);
        pqxx::nontransaction txn(connection);
        pqxx::result rows = txn.exec_prepared(name, pqxx::prepare::make_dynamic_params(params));
        if (rows.empty()) return AccountNotFound(query.account_id);
        page.incomplete = rows[0][0].as<bool>();
        page.total_rows =
            statement.total == PageTotal::kKnown ? *query.known_total : rows[0][1].as<uint64_t>();
        page.rows.reserve(rows.size());
        for (const pqxx::row& row : rows) {
          if (row[kPageFirstColumn].is_null()) continue;  // the account has no such rows
          EGRESS_ASSIGN_OR_RETURN(ConnectionRow parsed,
                                  ConnectionFromRow(row, kPageFirstColumn, query.order));
          page.rows.push_back(std::move(parsed));
        }
        return absl::OkStatus();
      }));
  return page;
}

absl::Status PgConnectionsStore::ExportConnections(const ConnectionQuery& query, int batch_rows,
                                                   const RowBatchSink& sink) {
  const PageStatement statement = BuildExportStatement(query);
  std::vector<const char*> params;
  params.reserve(statement.params.size());
  for (const std::optional<std::string>& value : statement.params) {
    params.push_back(value.has_value() ? value->c_str() : nullptr);
  }
  const std::string fetch = absl::StrCat("FETCH ", batch_rows, " FROM ", kExportCursor);
  return database_.WithConnection([&](pqxx::connection& connection) -> absl::Status {
    // One snapshot for the whole file, read-only: writers never wait for
    // it, but it holds back vacuum and an ACCESS SHARE lock on the day's
    // partition (dropping it waits). So a reader that takes nothing for a
    // minute between two batches loses the export (the server ends the idle
    // transaction: UNAVAILABLE). The cursor is gone with the transaction,
    // also when `sink` stops early (the transaction is aborted).
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> txn(connection);
    txn.exec("SET LOCAL idle_in_transaction_session_timeout = '60s'");
    if (txn.exec_params(kAccountExists, query.account_id).empty()) {
      return AccountNotFound(query.account_id);
    }
    // The per-row rule subqueries make a whole day look expensive to the
    // planner, which then JIT-compiles the cursor: ~300 ms before the first
    // row on a 200,000-row day, for no gain (bench/README.md, export).
    txn.exec("SET LOCAL jit = off");
    txn.exec_params(
        absl::StrCat("DECLARE ", kExportCursor, " NO SCROLL CURSOR FOR ", statement.sql),
        pqxx::prepare::make_dynamic_params(params));
    std::vector<ConnectionRow> batch;
    batch.reserve(batch_rows);
    bool first = true;
    for (;;) {
      pqxx::result rows = txn.exec(fetch);
      batch.clear();
      for (const pqxx::row& row : rows) {
        EGRESS_ASSIGN_OR_RETURN(ConnectionRow parsed, ConnectionFromRow(row, 0, query.order));
        batch.push_back(std::move(parsed));
      }
      if (!batch.empty() || first) EGRESS_RETURN_IF_ERROR(sink(batch));
      first = false;
      if (static_cast<int>(rows.size()) < batch_rows) break;
    }
    txn.commit();
    return absl::OkStatus();
  });
}

}  // namespace egress
