// PgCollectorStore: the rule sets agents enforce, and what they confirmed.
// How versions are kept: 0005_rule_versions_without_shared_rows.sql and
// lock_order.md.
#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "service/storage/egress_address.h"
#include "service/storage/not_found.h"
#include "service/storage/pg_collector_store.h"
#include "service/storage/pg_values.h"
#include "service/storage/prepared.h"

namespace egress {
namespace {

constexpr char kSelectNodeSettings[] = R"sql(
SELECT egress_node_rule_version(node_id), config_version,
       array_to_string(exempt_networks, ' '), host(server_ipv4), host(server_ipv6)
  FROM nodes WHERE node_id = $1)sql";

// Everything the node enforces for its accounts, in one statement (one round
// trip): kind 0 the accounts, 1 their dedicated addresses, 2 their block
// rules, 3 their abuse locks on some ports (which become rules: every
// address, TCP and UDP, each port; agents need nothing new). Unordered:
// ParseAccounts orders in memory (an ORDER BY over the union compared account
// ids by collation, which made a full rule set of 5,000 rules ~15 ms
// slower). FILTER is "" (every account of node $1) or an extra condition on
// `a` (some accounts, still of node $1).
#define EGRESS_NODE_ACCOUNTS_SQL(FILTER)                                                     \
  " SELECT 0 AS kind, a.account_id, a.uid::int8 AS n1, a.rule_version AS n2,"                \
  "        EXISTS (SELECT 1 FROM account_locks l WHERE l.account_id = a.account_id"          \
  "                   AND (l.kind <> 3 OR cardinality(l.ports) = 0))::int::int8 AS n3,"      \
  "        NULL::int8 AS n4, NULL::text AS t"                                                \
  "   FROM accounts a WHERE a.node_id = $1" FILTER                                           \
  " UNION ALL"                                                                               \
  " SELECT 1, d.account_id, (extract(epoch FROM d.ordered_at) * 1000000)::int8, NULL, NULL," \
  "        NULL, host(d.ip)"                                                                 \
  "   FROM dedicated_ips d JOIN accounts a USING (account_id) WHERE a.node_id = $1" FILTER   \
  " UNION ALL"                                                                               \
  " SELECT 2, r.account_id, r.rule_id, r.protocol::int8, r.port::int8,"                      \
  "        (extract(epoch FROM r.expires_at) * 1000000)::int8, r.network::text"              \
  "   FROM block_rules r JOIN accounts a USING (account_id) WHERE a.node_id = $1" FILTER     \
  " UNION ALL"                                                                               \
  " SELECT 3, l.account_id, NULL, NULL, NULL, NULL, array_to_string(l.ports, ' ')"           \
  "   FROM account_locks l JOIN accounts a USING (account_id)"                               \
  "  WHERE a.node_id = $1 AND l.kind = 3 AND cardinality(l.ports) > 0" FILTER
constexpr char kSelectAccountsOfNode[] = EGRESS_NODE_ACCOUNTS_SQL("");
// A partial rule set in one statement (one snapshot, one round trip, no
// BEGIN or COMMIT): what changed since the base an agent stream holds ($2
// its config version, $3 and $4 its accounts and their versions). Rows of
// kind -1: the node (n1 its rule set version, the sum
// egress_node_rule_version computes, spelled out as that function would be
// planned again on every call; n2 its config version; t its exempt
// networks); -3: its server addresses (account_id IPv4, t IPv6); -2: an
// account of the base no longer on the node; then the kinds 0-3 above for
// every account whose version differs from the base's (every account of
// the node when its own settings changed). The changed accounts are one
// array (an InitPlan, computed once) matched by each table's own
// account_id (the unqualified column of the USING join), not only through
// the join, so each part reads its rows by index: a generic plan that knew
// only `a.account_id` hash-joined a sequential scan of every block rule of
// every node on each partial rule set (4.5 ms at 23,000 rules, 0.3 ms this
// way), and a semi-join on `listed` was slower than four round trips.
#define EGRESS_CHANGED_ACCOUNTS                               \
  " AND a.account_id = ANY((SELECT ids FROM listed)::text[])" \
  " AND account_id = ANY((SELECT ids FROM listed)::text[])"
constexpr char kSelectChanges[] =
    "WITH node AS ("
    "  SELECT (n.config_version"
    "          + coalesce((SELECT sum(a.rule_version) FROM accounts a WHERE a.node_id = $1), 0)"
    "          + coalesce((SELECT sum(d.version) FROM node_rule_departures d"
    "                       WHERE d.node_id = $1), 0))::int8 AS version,"
    "         n.config_version, array_to_string(n.exempt_networks, ' ') AS exempt,"
    "         host(n.server_ipv4) AS ipv4, host(n.server_ipv6) AS ipv6"
    "    FROM nodes n WHERE n.node_id = $1),"
    " base AS (SELECT * FROM unnest($3::text[], $4::int8[]) AS b (account_id, version)),"
    " listed AS ("
    "  SELECT coalesce(array_agg(a.account_id), '{}') AS ids"
    "    FROM accounts a LEFT JOIN base b USING (account_id)"
    "   WHERE a.node_id = $1"
    "     AND ((SELECT config_version FROM node) <> $2::int8"
    "          OR b.version IS DISTINCT FROM a.rule_version)),"
    " removed AS ("
    "  SELECT b.account_id FROM base b"
    "    LEFT JOIN accounts a ON a.account_id = b.account_id AND a.node_id = $1"
    "   WHERE a.account_id IS NULL)"
    " SELECT -1 AS kind, NULL::text AS account_id, version AS n1, config_version AS n2,"
    "        NULL::int8 AS n3, NULL::int8 AS n4, exempt AS t FROM node"
    " UNION ALL SELECT -3, ipv4, NULL, NULL, NULL, NULL, ipv6 FROM node"
    " UNION ALL SELECT -2, account_id, NULL, NULL, NULL, NULL, NULL FROM removed"
    " UNION ALL" EGRESS_NODE_ACCOUNTS_SQL(EGRESS_CHANGED_ACCOUNTS);
#undef EGRESS_CHANGED_ACCOUNTS
#undef EGRESS_NODE_ACCOUNTS_SQL

constexpr char kRulesFailed[] = "UPDATE nodes SET apply_error = $2 WHERE node_id = $1";

// A confirmation, as one statement (one round trip, its own transaction):
// the node's row first (lock order step 1: `node` is an InitPlan's one-time
// filter, evaluated before any accounts row is read), then the accounts it
// names that are still on this node (a late confirmation from a node the
// account left says nothing about it), in key order, KEY SHARE so an
// account deleted meanwhile is skipped instead of failing the foreign key.
// Harmless to run twice: versions only go up, a repeated one changes
// nothing.
constexpr char kRulesApplied[] = R"sql(
WITH node AS (
  UPDATE nodes SET applied_rule_version = greatest(applied_rule_version, $2),
                   applied_at = now(), apply_error = ''
   WHERE node_id = $1
  RETURNING node_id)
INSERT INTO account_rules_applied AS p (account_id, node_id, version, applied_at)
SELECT a.account_id, a.node_id, t.version, now()
  FROM unnest($3::text[], $4::int8[]) AS t (account_id, version)
  JOIN accounts a ON a.account_id = t.account_id AND a.node_id = $1
 WHERE EXISTS (SELECT 1 FROM node)
 ORDER BY a.account_id
   FOR KEY SHARE OF a
ON CONFLICT (account_id) DO UPDATE
   SET node_id = EXCLUDED.node_id, version = EXCLUDED.version, applied_at = EXCLUDED.applied_at
 WHERE (p.node_id, p.version) IS DISTINCT FROM (EXCLUDED.node_id, EXCLUDED.version))sql";

// The rules an abuse lock on `port` stands for: every IPv4 and IPv6 address,
// TCP and UDP. Rule id 0: they are no block_rules row (the agent makes
// elements of network, protocol and port only).
void AppendPortLockRules(uint16_t port, std::vector<RuleMatchEntry>* rules) {
  static const IpNetwork kAllV4 = *IpNetwork::Parse("0.0.0.0/0");
  static const IpNetwork kAllV6 = *IpNetwork::Parse("::/0");
  for (const IpNetwork& network : {kAllV4, kAllV6}) {
    for (Protocol protocol : {Protocol::kTcp, Protocol::kUdp}) {
      rules->push_back(RuleMatchEntry{0, network, protocol, port, std::nullopt});
    }
  }
}

struct NodeSettings {
  std::optional<IpAddress> server_ipv4;
  std::optional<IpAddress> server_ipv6;
};

// Reads the node's columns 0-4 (version, config version, exempt networks,
// server addresses) from `node` into `out`.
absl::StatusOr<NodeSettings> ReadNode(const pqxx::row& node, NodeRuleSet* out) {
  out->version = node[0].as<uint64_t>();
  out->config_version = node[1].as<uint64_t>();
  for (absl::string_view text : absl::StrSplit(node[2].c_str(), ' ', absl::SkipEmpty())) {
    EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(text));
    out->exempt_networks.push_back(network);
  }
  NodeSettings settings;
  if (!node[3].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(settings.server_ipv4, IpFromPg(node[3].c_str()));
  }
  if (!node[4].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(settings.server_ipv6, IpFromPg(node[4].c_str()));
  }
  return settings;
}

// Appends the accounts in `rows` (kinds 0-3 of EGRESS_NODE_ACCOUNTS_SQL;
// other kinds are skipped) with their rules, locks and egress addresses to
// `out->accounts`.
absl::Status ParseAccounts(const pqxx::result& rows, const NodeSettings& settings,
                           NodeRuleSet* out) {
  // The accounts first (by uid, as agents order them), then what belongs
  // to them: rules by rule id, then the port locks' rules.
  const size_t first = out->accounts.size();
  for (const pqxx::row& row : rows) {
    if (row[0].as<int>() != 0) continue;
    AccountRuleSet account;
    account.account_id = row[1].as<std::string>();
    account.uid = row[2].as<uint32_t>();
    account.version = row[3].as<uint64_t>();
    account.block_all = row[4].as<int>() != 0;
    out->accounts.push_back(std::move(account));
  }
  std::sort(out->accounts.begin() + static_cast<std::ptrdiff_t>(first), out->accounts.end(),
            [](const AccountRuleSet& a, const AccountRuleSet& b) {
              return std::tie(a.uid, a.account_id) < std::tie(b.uid, b.account_id);
            });
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = first; i < out->accounts.size(); ++i) index[out->accounts[i].account_id] = i;
  absl::flat_hash_map<std::string, std::vector<DedicatedIp>> dedicated;
  absl::flat_hash_map<size_t, std::vector<uint16_t>> lock_ports;
  for (const pqxx::row& row : rows) {
    const int kind = row[0].as<int>();
    if (kind <= 0) continue;
    auto it = index.find(row[1].as<std::string>());
    if (it == index.end()) continue;
    AccountRuleSet& account = out->accounts[it->second];
    if (kind == 1) {
      EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpFromPg(row[6].c_str()));
      dedicated[account.account_id].push_back(
          DedicatedIp{ip, absl::FromUnixMicros(row[2].as<int64_t>())});
    } else if (kind == 2) {
      EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(row[6].c_str()));
      absl::StatusOr<Protocol> protocol = ProtocolFromNumber(row[3].as<int>());
      if (!protocol.ok()) return absl::InternalError("bad protocol in block_rules");
      RuleMatchEntry rule{row[2].as<uint64_t>(), network, *protocol,
                          static_cast<uint16_t>(row[4].as<int>()), std::nullopt};
      if (!row[5].is_null()) rule.expires_at = absl::FromUnixMicros(row[5].as<int64_t>());
      account.rules.push_back(std::move(rule));
    } else {
      for (absl::string_view text : absl::StrSplit(row[6].c_str(), ' ', absl::SkipEmpty())) {
        int port = 0;
        if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
          return absl::InternalError("bad port in account_locks");
        }
        lock_ports[it->second].push_back(static_cast<uint16_t>(port));
      }
    }
  }
  for (size_t i = first; i < out->accounts.size(); ++i) {
    std::vector<RuleMatchEntry>& rules = out->accounts[i].rules;
    std::sort(rules.begin(), rules.end(), [](const RuleMatchEntry& a, const RuleMatchEntry& b) {
      return a.rule_id < b.rule_id;
    });
    if (auto ports = lock_ports.find(i); ports != lock_ports.end()) {
      for (uint16_t port : ports->second) AppendPortLockRules(port, &rules);
    }
  }
  for (AccountRuleSet& account : out->accounts) {
    const std::vector<DedicatedIp>& ips = dedicated[account.account_id];
    account.egress_ipv4 = EgressAddress(IpAddress::Family::kV4, ips, settings.server_ipv4);
    account.egress_ipv6 = EgressAddress(IpAddress::Family::kV6, ips, settings.server_ipv6);
  }
  return absl::OkStatus();
}

// Account ids and their versions as two PostgreSQL array literals, in the
// same order (for unnest($ids, $versions)).
template <typename AccountVersions>
std::pair<std::string, std::string> VersionArrays(const AccountVersions& accounts) {
  std::vector<std::string> ids, versions;
  ids.reserve(accounts.size());
  versions.reserve(accounts.size());
  for (const auto& [account_id, version] : accounts) {
    ids.push_back(account_id);
    versions.push_back(std::to_string(version));
  }
  return {PgArrayLiteral(ids), PgArrayLiteral(versions)};
}

}  // namespace

absl::StatusOr<NodeRuleSet> PgCollectorStore::LoadRuleSet(const std::string& node_id) {
  NodeRuleSet rule_set;
  EGRESS_RETURN_IF_ERROR(database_.ReadSnapshot([&](pqxx::transaction_base& txn) -> absl::Status {
    rule_set = NodeRuleSet();
    const pqxx::result node = ExecPrepared(txn, kSelectNodeSettings, node_id);
    if (node.empty()) return NodeNotFound(node_id);
    EGRESS_ASSIGN_OR_RETURN(NodeSettings settings, ReadNode(node[0], &rule_set));
    return ParseAccounts(ExecPrepared(txn, kSelectAccountsOfNode, node_id), settings, &rule_set);
  }));
  return rule_set;
}

absl::StatusOr<NodeRuleSet> PgCollectorStore::LoadRuleSetChanges(const std::string& node_id,
                                                                 const RuleSetBase& base) {
  const auto [base_ids, base_versions] = VersionArrays(base.account_versions);
  NodeRuleSet rule_set;
  EGRESS_RETURN_IF_ERROR(
      database_.ReadInOneStatement([&](pqxx::transaction_base& txn) -> absl::Status {
        rule_set = NodeRuleSet();
        const pqxx::result rows =
            ExecPrepared(txn, kSelectChanges, node_id, static_cast<int64_t>(base.config_version),
                         base_ids, base_versions);
        std::optional<pqxx::row> node;  // a copy: the loop's row is its iterator
        NodeSettings settings;
        for (const pqxx::row& row : rows) {
          const int kind = row[0].as<int>();
          if (kind == -1) {
            node = row;
          } else if (kind == -3) {
            if (!row[1].is_null()) {
              EGRESS_ASSIGN_OR_RETURN(settings.server_ipv4, IpFromPg(row[1].c_str()));
            }
            if (!row[6].is_null()) {
              EGRESS_ASSIGN_OR_RETURN(settings.server_ipv6, IpFromPg(row[6].c_str()));
            }
          } else if (kind == -2) {
            rule_set.removed_accounts.push_back(row[1].as<std::string>());
          }
        }
        if (!node.has_value()) return NodeNotFound(node_id);
        rule_set.version = (*node)[2].as<uint64_t>();
        rule_set.config_version = (*node)[3].as<uint64_t>();
        if (rule_set.config_version != base.config_version) {
          // The node's own settings changed: every account may be affected
          // (the statement listed them all), and the exempt networks.
          for (absl::string_view text :
               absl::StrSplit((*node)[6].c_str(), ' ', absl::SkipEmpty())) {
            EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(text));
            rule_set.exempt_networks.push_back(network);
          }
          rule_set.removed_accounts.clear();
          return ParseAccounts(rows, settings, &rule_set);
        }
        rule_set.partial = true;
        if (rule_set.version == base.version) {
          rule_set.removed_accounts.clear();
          return absl::OkStatus();
        }
        std::sort(rule_set.removed_accounts.begin(), rule_set.removed_accounts.end());
        return ParseAccounts(rows, settings, &rule_set);
      }));
  return rule_set;
}

absl::Status PgCollectorStore::RecordRulesApplied(const std::string& node_id, uint64_t version,
                                                  const std::string& error,
                                                  const AppliedAccountVersions& accounts) {
  const auto [ids, versions] = VersionArrays(accounts);
  return database_.WriteOneStatement([&](pqxx::transaction_base& txn) -> absl::Status {
    if (!error.empty()) {
      ExecPrepared(txn, kRulesFailed, node_id, error);
    } else {
      ExecPrepared(txn, kRulesApplied, node_id, static_cast<int64_t>(version), ids, versions);
    }
    return absl::OkStatus();
  });
}

}  // namespace egress
