// The SQL of one ListConnections page, built for exactly the filters a query
// uses (no "$n IS NULL OR ..." branches), with its parameters.
//
// Each distinct shape (order, direction, filter kind, action, cursor, where
// the total comes from) is a distinct text, so the store can keep it as a
// prepared statement per connection: planning the page over the monthly
// partitions cost ~1 ms a call, more than scanning the day's 5,000 rows,
// and a generic plan of a shape-specific text keeps its index ranges
// (a generic plan of the old catch-all text could not use the CIDR range).
#ifndef EGRESS_SERVICE_STORAGE_CONNECTION_PAGE_SQL_H_
#define EGRESS_SERVICE_STORAGE_CONNECTION_PAGE_SQL_H_

#include <optional>
#include <string>
#include <vector>

#include "service/storage/connections_store.h"

namespace egress {

// Where the page's total_rows comes from.
enum class PageTotal {
  kCounted,  // counted over the filters' rows of the day
  kSummary,  // no IP filter: account_day_totals' row counts, kept by ingest
  kKnown,    // a later page: the first page's total, from its token
};

struct PageStatement {
  std::string sql;
  // $1, $2, ... in order; nullopt is SQL NULL.
  std::vector<std::optional<std::string>> params;
  PageTotal total = PageTotal::kCounted;
};

// Result columns: incomplete, total (NULL for kKnown), then the page's row
// columns from kPageFirstColumn on (all NULL when the page is empty):
// host(ip), protocol, port, action, count, first/last seen (µs), covering
// rule ids (space-separated), address rule id, the 8 ip_info columns.
// No rows at all: the account does not exist.
inline constexpr int kPageFirstColumn = 2;

PageStatement BuildPageStatement(const ConnectionQuery& query);

// Every row of `query` (after, limit and known_total ignored) in its order,
// for a cursor: the row columns above (from host(ip) on) as the statement's
// first columns. `total` is unused. Whether the account exists is not
// checked here.
PageStatement BuildExportStatement(const ConnectionQuery& query);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_CONNECTION_PAGE_SQL_H_
