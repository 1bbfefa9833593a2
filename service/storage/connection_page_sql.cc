#include "service/storage/connection_page_sql.h"

#include "absl/strings/str_cat.h"
#include "common/civil_day.h"
#include "common/ip_text_prefix.h"
#include "service/storage/pg_connections_store.h"

namespace egress {
namespace {

// How rows are ordered and what "after the cursor" means for one order.
// `primary` is the ordering column (nullptr for kIp, ordered by the key
// alone); ties are broken by the key (ip, protocol, port, action) ascending,
// except kIp descending, which reverses the whole key.
struct Ordering {
  const char* primary;
  const char* order_by;
  // Comparison of the primary column and of the key tuple against the cursor.
  const char* primary_after;
  const char* key_after;
};

// Indexed by [order][descending].
constexpr Ordering kOrderings[4][2] = {
    {{"c.count", "c.count, c.ip, c.protocol, c.port, c.action", ">", ">"},
     {"c.count", "c.count DESC, c.ip, c.protocol, c.port, c.action", "<", ">"}},
    {{nullptr, "c.ip, c.protocol, c.port, c.action", "", ">"},
     {nullptr, "c.ip DESC, c.protocol DESC, c.port DESC, c.action DESC", "", "<"}},
    {{"c.port", "c.port, c.ip, c.protocol, c.action", ">", ">"},
     {"c.port", "c.port DESC, c.ip, c.protocol, c.action", "<", ">"}},
    {{"c.last_seen", "c.last_seen, c.ip, c.protocol, c.port, c.action", ">", ">"},
     {"c.last_seen", "c.last_seen DESC, c.ip, c.protocol, c.port, c.action", "<", ">"}},
};

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

// Appends parameters and hands out their placeholders ("$3::inet").
class Params {
 public:
  explicit Params(std::vector<std::optional<std::string>>* values) : values_(*values) {}
  std::string Add(std::optional<std::string> value, absl::string_view type) {
    values_.push_back(std::move(value));
    return absl::StrCat("$", values_.size(), "::", type);
  }

 private:
  std::vector<std::optional<std::string>>& values_;
};

// The WHERE conditions of `query`'s rows of the day (account, day, IP
// filter, action) over connection_daily aliased `c`; `ip_filter` tells
// whether an IP filter is among them.
std::string FilterSql(const ConnectionQuery& query, const std::string& account,
                      const std::string& day, Params& params, bool* ip_filter) {
  std::string filter = absl::StrCat("c.account_id = ", account, " AND c.day = ", day);
  *ip_filter = false;
  if (query.filter.kind == IpFilter::Kind::kNetwork && query.filter.network.has_value()) {
    *ip_filter = true;
    // Spelled as a key range as well as `<<=`: a range scan of the primary
    // key (account_id, day, ip, ...).
    const IpNetwork& network = *query.filter.network;
    absl::StrAppend(&filter, " AND c.ip >= ", params.Add(network.address().ToString(), "inet"),
                    " AND c.ip <= ", params.Add(network.LastAddress().ToString(), "inet"),
                    " AND c.ip <<= ", params.Add(network.ToString(), "inet"));
  } else if (query.filter.kind == IpFilter::Kind::kTextPrefix) {
    *ip_filter = true;
    if (std::optional<std::vector<IpRange>> ranges = TextPrefixV4Ranges(query.filter.prefix)) {
      // IPv4 text: the exact ranges, compared as addresses (formatting each
      // row's address for LIKE cost about half the query). Their hull bounds
      // the key range scan.
      if (ranges->empty()) {
        absl::StrAppend(&filter, " AND false");
      } else {
        absl::StrAppend(
            &filter, " AND c.ip >= ", params.Add(ranges->front().first.ToString(), "inet"),
            " AND c.ip <= ", params.Add(ranges->back().last.ToString(), "inet"), " AND (");
        for (size_t i = 0; i < ranges->size(); ++i) {
          absl::StrAppend(&filter, i == 0 ? "" : " OR ", "c.ip BETWEEN ",
                          params.Add((*ranges)[i].first.ToString(), "inet"), " AND ",
                          params.Add((*ranges)[i].last.ToString(), "inet"));
        }
        absl::StrAppend(&filter, ")");
      }
    } else {
      // The hull bounds the scan; the text comparison decides.
      if (std::optional<IpRange> hull = TextPrefixHull(query.filter.prefix)) {
        absl::StrAppend(&filter, " AND c.ip >= ", params.Add(hull->first.ToString(), "inet"),
                        " AND c.ip <= ", params.Add(hull->last.ToString(), "inet"));
      }
      absl::StrAppend(&filter, " AND host(c.ip) LIKE ",
                      params.Add(LikePrefixPattern(query.filter.prefix), "text"), " ESCAPE '\\'");
    }
  }
  if (query.action.has_value()) {
    absl::StrAppend(&filter, " AND c.action = ",
                    params.Add(std::to_string(static_cast<int>(*query.action)), "int2"));
  }
  return filter;
}

// The per-row columns after host(c.ip) .. last seen: the covering rule ids,
// the address rule and ip_info (aliased `i`).
std::string RuleAndInfoColumns() {
  return absl::StrCat(
      "       (SELECT coalesce(string_agg(r.rule_id::text, ' ' ORDER BY r.rule_id), '')\n"
      "          FROM block_rules r\n"
      "         WHERE r.account_id = c.account_id AND r.network >>= c.ip\n"
      "           AND r.protocol IN (0, c.protocol) AND r.port IN (0, c.port)),\n"
      "       (SELECT r.rule_id FROM block_rules r\n"
      "         WHERE r.account_id = c.account_id AND r.network = c.ip::cidr\n"
      "           AND r.protocol = 0 AND r.port = 0),",
      kIpInfoColumns);
}

}  // namespace

PageStatement BuildPageStatement(const ConnectionQuery& query) {
  PageStatement statement;
  Params params(&statement.params);
  const std::string account = params.Add(query.account_id, "text");
  const std::string day = params.Add(FormatDay(query.day), "date");

  // The filters, shared by the page and a counted total.
  bool ip_filter = false;
  const std::string filter = FilterSql(query, account, day, params, &ip_filter);

  std::string total;
  if (query.after.has_value() && query.known_total.has_value()) {
    statement.total = PageTotal::kKnown;
    total = "NULL::int8";
  } else if (!ip_filter) {
    statement.total = PageTotal::kSummary;
    const char* rows = !query.action.has_value() ? "t.accepted_rows + t.rejected_rows"
                       : *query.action == RecordAction::kAccept ? "t.accepted_rows"
                                                                : "t.rejected_rows";
    total = absl::StrCat("coalesce((SELECT ", rows,
                         " FROM account_day_totals t WHERE t.account_id = ", account,
                         " AND t.day = ", day, "), 0)");
  } else {
    statement.total = PageTotal::kCounted;
    total = absl::StrCat("(SELECT count(*) FROM connection_daily c WHERE ", filter, ")");
  }

  const Ordering& ordering = kOrderings[static_cast<int>(query.order)][query.descending ? 1 : 0];
  std::string after;
  if (query.after.has_value()) {
    const ConnectionCursor& cursor = *query.after;
    const std::string key = absl::StrCat("(", params.Add(cursor.ip.ToString(), "inet"), ", ",
                                         params.Add(std::to_string(cursor.protocol), "int2"), ", ",
                                         params.Add(std::to_string(cursor.port), "int4"), ", ",
                                         params.Add(std::to_string(cursor.action), "int2"), ")");
    const std::string key_after =
        absl::StrCat("(c.ip, c.protocol, c.port, c.action) ", ordering.key_after, " ", key);
    if (ordering.primary == nullptr) {
      after = absl::StrCat(" AND ", key_after);
    } else {
      std::string value = params.Add(std::to_string(cursor.primary), "int8");
      if (query.order == ConnectionOrder::kLastSeen) {
        value = absl::StrCat("('epoch'::timestamptz + ", value, " * interval '1 microsecond')");
      }
      after = absl::StrCat(" AND (", ordering.primary, " ", ordering.primary_after, " ", value,
                           " OR (", ordering.primary, " = ", value, " AND ", key_after, "))");
    }
  }
  const std::string limit = params.Add(std::to_string(query.limit), "int4");

  // The account, whether the day is incomplete and the total, then the
  // page's rows in `pos` order. The day's rows are ordered and cut in the
  // inner query; only the page's rows are joined to ip_info and to the
  // account's rules. MATERIALIZED: the head is evaluated once, not per row.
  statement.sql = absl::StrCat(
      "WITH head AS MATERIALIZED (\n"
      "  SELECT EXISTS (SELECT 1 FROM node_day_losses l\n"
      "                  WHERE l.node_id = a.node_id AND l.day = ",
      day, ") AS incomplete,\n         ", total,
      " AS total\n"
      "    FROM accounts a WHERE a.account_id = ",
      account,
      ")\n"
      "SELECT h.incomplete, h.total, p.*\n"
      "  FROM head h\n"
      "  LEFT JOIN LATERAL (\n"
      "SELECT host(c.ip), c.protocol, c.port, c.action, c.count,\n"
      "       (extract(epoch FROM c.first_seen) * 1000000)::int8,\n"
      "       (extract(epoch FROM c.last_seen) * 1000000)::int8,\n",
      RuleAndInfoColumns(), ",\n       row_number() OVER (ORDER BY ", ordering.order_by,
      ") AS pos\n"
      "  FROM (SELECT c.account_id, c.ip, c.protocol, c.port, c.action, c.count, c.first_seen,\n"
      "               c.last_seen\n"
      "          FROM connection_daily c\n"
      "         WHERE ",
      filter, after, "\n         ORDER BY ", ordering.order_by, " LIMIT ", limit,
      ") c\n"
      "  LEFT JOIN ip_info i ON i.ip = c.ip) p ON true\n"
      " ORDER BY p.pos");
  return statement;
}

PageStatement BuildExportStatement(const ConnectionQuery& query) {
  PageStatement statement;
  Params params(&statement.params);
  const std::string account = params.Add(query.account_id, "text");
  const std::string day = params.Add(FormatDay(query.day), "date");
  bool ip_filter = false;
  const std::string filter = FilterSql(query, account, day, params, &ip_filter);
  const Ordering& ordering = kOrderings[static_cast<int>(query.order)][query.descending ? 1 : 0];
  // The day's rows are ordered in the inner query (by the primary key's
  // index when the order allows, else one sort), then joined row by row to
  // ip_info and the rules, which keeps that order: the outer ORDER BY costs
  // nothing and rows stream out as they are produced.
  statement.sql = absl::StrCat(
      "SELECT host(c.ip), c.protocol, c.port, c.action, c.count,\n"
      "       (extract(epoch FROM c.first_seen) * 1000000)::int8,\n"
      "       (extract(epoch FROM c.last_seen) * 1000000)::int8,\n",
      RuleAndInfoColumns(),
      "\n  FROM (SELECT c.account_id, c.ip, c.protocol, c.port, c.action, c.count, c.first_seen,\n"
      "               c.last_seen\n"
      "          FROM connection_daily c\n"
      "         WHERE ",
      filter, "\n         ORDER BY ", ordering.order_by,
      ") c\n"
      "  LEFT JOIN ip_info i ON i.ip = c.ip\n"
      " ORDER BY ",
      ordering.order_by);
  return statement;
}

}  // namespace egress
