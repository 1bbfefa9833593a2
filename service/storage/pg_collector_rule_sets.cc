// PgCollectorStore: the rule sets agents enforce, and what they confirmed.
// How versions are kept: 0005_rule_versions_without_shared_rows.sql and
// lock_order.md.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "service/storage/egress_address.h"
#include "service/storage/pg_collector_store.h"
#include "service/storage/pg_values.h"
#include "service/storage/prepared.h"

namespace egress {
namespace {

constexpr char kSnapshot[] = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY";

constexpr char kSelectNode[] = R"sql(
SELECT egress_node_rule_version(node_id), config_version,
       array_to_string(exempt_networks, ' '), host(server_ipv4), host(server_ipv6)
  FROM nodes WHERE node_id = $1)sql";

constexpr char kSelectAccountVersions[] =
    "SELECT account_id, rule_version FROM accounts WHERE node_id = $1";

// Each of the next statements comes in two shapes: every account of the
// node ($1), or only the accounts listed in $2 (still of node $1).
constexpr char kSelectAccountsOfNode[] = R"sql(
SELECT a.account_id, a.uid, a.rule_version,
       EXISTS (SELECT 1 FROM account_locks l
                WHERE l.account_id = a.account_id AND (l.kind <> 3 OR cardinality(l.ports) = 0))
  FROM accounts a WHERE a.node_id = $1 ORDER BY a.uid)sql";
constexpr char kSelectAccountsListed[] = R"sql(
SELECT a.account_id, a.uid, a.rule_version,
       EXISTS (SELECT 1 FROM account_locks l
                WHERE l.account_id = a.account_id AND (l.kind <> 3 OR cardinality(l.ports) = 0))
  FROM accounts a WHERE a.node_id = $1 AND a.account_id = ANY($2::text[]) ORDER BY a.uid)sql";

constexpr char kSelectDedicatedIpsOfNode[] = R"sql(
SELECT d.account_id, host(d.ip), (extract(epoch FROM d.ordered_at) * 1000000)::int8
  FROM dedicated_ips d JOIN accounts a USING (account_id) WHERE a.node_id = $1)sql";
constexpr char kSelectDedicatedIpsListed[] = R"sql(
SELECT d.account_id, host(d.ip), (extract(epoch FROM d.ordered_at) * 1000000)::int8
  FROM dedicated_ips d JOIN accounts a USING (account_id)
 WHERE a.node_id = $1 AND a.account_id = ANY($2::text[]))sql";

constexpr char kSelectRulesOfNode[] = R"sql(
SELECT r.account_id, r.rule_id, r.network::text, r.protocol, r.port,
       (extract(epoch FROM r.expires_at) * 1000000)::int8
  FROM block_rules r JOIN accounts a USING (account_id)
 WHERE a.node_id = $1 ORDER BY r.account_id, r.rule_id)sql";
constexpr char kSelectRulesListed[] = R"sql(
SELECT r.account_id, r.rule_id, r.network::text, r.protocol, r.port,
       (extract(epoch FROM r.expires_at) * 1000000)::int8
  FROM block_rules r JOIN accounts a USING (account_id)
 WHERE a.node_id = $1 AND a.account_id = ANY($2::text[]) ORDER BY r.account_id, r.rule_id)sql";

// Abuse locks on some ports only: they become rules of the account (every
// address, TCP and UDP, each port), so agents need nothing new.
constexpr char kSelectPortLocksOfNode[] = R"sql(
SELECT l.account_id, array_to_string(l.ports, ' ')
  FROM account_locks l JOIN accounts a USING (account_id)
 WHERE a.node_id = $1 AND l.kind = 3 AND cardinality(l.ports) > 0)sql";
constexpr char kSelectPortLocksListed[] = R"sql(
SELECT l.account_id, array_to_string(l.ports, ' ')
  FROM account_locks l JOIN accounts a USING (account_id)
 WHERE a.node_id = $1 AND a.account_id = ANY($2::text[]) AND l.kind = 3
   AND cardinality(l.ports) > 0)sql";

constexpr char kRulesApplied[] = R"sql(
UPDATE nodes SET applied_rule_version = greatest(applied_rule_version, $2),
                 applied_at = now(), apply_error = ''
 WHERE node_id = $1)sql";
constexpr char kRulesFailed[] = "UPDATE nodes SET apply_error = $2 WHERE node_id = $1";

// Only accounts still on this node (a late confirmation from a node the
// account left says nothing about it); KEY SHARE so an account deleted
// meanwhile is skipped instead of failing the foreign key.
constexpr char kAccountsApplied[] = R"sql(
INSERT INTO account_rules_applied AS p (account_id, node_id, version, applied_at)
SELECT a.account_id, a.node_id, t.version, now()
  FROM unnest($2::text[], $3::int8[]) AS t (account_id, version)
  JOIN accounts a ON a.account_id = t.account_id AND a.node_id = $1
 ORDER BY a.account_id
   FOR KEY SHARE OF a
ON CONFLICT (account_id) DO UPDATE
   SET node_id = EXCLUDED.node_id, version = EXCLUDED.version, applied_at = EXCLUDED.applied_at
 WHERE (p.node_id, p.version) IS DISTINCT FROM (EXCLUDED.node_id, EXCLUDED.version))sql";

absl::Status NodeNotFound(const std::string& node_id) {
  return absl::NotFoundError(absl::StrCat("node \"", node_id, "\" does not exist"));
}

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

// Reads the node row into `out` (version, config version, exempt networks).
absl::StatusOr<NodeSettings> ReadNode(pqxx::work& txn, const std::string& node_id,
                                      NodeRuleSet* out) {
  pqxx::result node = ExecPrepared(txn, kSelectNode, node_id);
  if (node.empty()) return NodeNotFound(node_id);
  out->version = node[0][0].as<uint64_t>();
  out->config_version = node[0][1].as<uint64_t>();
  for (absl::string_view text : absl::StrSplit(node[0][2].c_str(), ' ', absl::SkipEmpty())) {
    EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(text));
    out->exempt_networks.push_back(network);
  }
  NodeSettings settings;
  if (!node[0][3].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(settings.server_ipv4, IpFromPg(node[0][3].c_str()));
  }
  if (!node[0][4].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(settings.server_ipv6, IpFromPg(node[0][4].c_str()));
  }
  return settings;
}

// Appends the node's accounts (all, or those in `only`) with their rules,
// locks and egress addresses to `out->accounts`.
absl::Status ReadAccounts(pqxx::work& txn, const std::string& node_id,
                          const std::vector<std::string>* only, const NodeSettings& settings,
                          NodeRuleSet* out) {
  std::string listed;
  if (only != nullptr) listed = PgArrayLiteral(*only);
  auto query = [&](const char* of_node, const char* of_listed) {
    return only == nullptr ? ExecPrepared(txn, of_node, node_id)
                           : ExecPrepared(txn, of_listed, node_id, listed);
  };
  absl::flat_hash_map<std::string, size_t> index;
  for (const pqxx::row& row : query(kSelectAccountsOfNode, kSelectAccountsListed)) {
    AccountRuleSet account;
    account.account_id = row[0].as<std::string>();
    account.uid = row[1].as<uint32_t>();
    account.version = row[2].as<uint64_t>();
    account.block_all = row[3].as<bool>();
    index[account.account_id] = out->accounts.size();
    out->accounts.push_back(std::move(account));
  }
  absl::flat_hash_map<std::string, std::vector<DedicatedIp>> dedicated;
  for (const pqxx::row& row : query(kSelectDedicatedIpsOfNode, kSelectDedicatedIpsListed)) {
    EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpFromPg(row[1].c_str()));
    dedicated[row[0].as<std::string>()].push_back(
        DedicatedIp{ip, absl::FromUnixMicros(row[2].as<int64_t>())});
  }
  for (AccountRuleSet& account : out->accounts) {
    const std::vector<DedicatedIp>& ips = dedicated[account.account_id];
    account.egress_ipv4 = EgressAddress(IpAddress::Family::kV4, ips, settings.server_ipv4);
    account.egress_ipv6 = EgressAddress(IpAddress::Family::kV6, ips, settings.server_ipv6);
  }
  for (const pqxx::row& row : query(kSelectRulesOfNode, kSelectRulesListed)) {
    auto it = index.find(row[0].as<std::string>());
    if (it == index.end()) continue;
    EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(row[2].c_str()));
    absl::StatusOr<Protocol> protocol = ProtocolFromNumber(row[3].as<int>());
    if (!protocol.ok()) return absl::InternalError("bad protocol in block_rules");
    RuleMatchEntry rule{row[1].as<uint64_t>(), network, *protocol,
                        static_cast<uint16_t>(row[4].as<int>()), std::nullopt};
    if (!row[5].is_null()) rule.expires_at = absl::FromUnixMicros(row[5].as<int64_t>());
    out->accounts[it->second].rules.push_back(std::move(rule));
  }
  for (const pqxx::row& row : query(kSelectPortLocksOfNode, kSelectPortLocksListed)) {
    auto it = index.find(row[0].as<std::string>());
    if (it == index.end()) continue;
    for (absl::string_view text : absl::StrSplit(row[1].c_str(), ' ', absl::SkipEmpty())) {
      int port = 0;
      if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
        return absl::InternalError("bad port in account_locks");
      }
      AppendPortLockRules(static_cast<uint16_t>(port), &out->accounts[it->second].rules);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NodeRuleSet> PgCollectorStore::LoadRuleSet(const std::string& node_id) {
  NodeRuleSet rule_set;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    rule_set = NodeRuleSet();
    txn.exec(kSnapshot);
    EGRESS_ASSIGN_OR_RETURN(NodeSettings settings, ReadNode(txn, node_id, &rule_set));
    return ReadAccounts(txn, node_id, nullptr, settings, &rule_set);
  }));
  return rule_set;
}

absl::StatusOr<NodeRuleSet> PgCollectorStore::LoadRuleSetChanges(const std::string& node_id,
                                                                 const RuleSetBase& base) {
  NodeRuleSet rule_set;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    rule_set = NodeRuleSet();
    txn.exec(kSnapshot);
    EGRESS_ASSIGN_OR_RETURN(NodeSettings settings, ReadNode(txn, node_id, &rule_set));
    if (rule_set.config_version != base.config_version) {
      // The node's own settings changed: every account may be affected.
      return ReadAccounts(txn, node_id, nullptr, settings, &rule_set);
    }
    rule_set.partial = true;
    rule_set.exempt_networks.clear();
    if (rule_set.version == base.version) return absl::OkStatus();
    std::vector<std::string> changed;
    absl::flat_hash_map<std::string, bool> present;
    for (const pqxx::row& row : ExecPrepared(txn, kSelectAccountVersions, node_id)) {
      std::string account_id = row[0].as<std::string>();
      auto it = base.account_versions.find(account_id);
      if (it == base.account_versions.end() || it->second != row[1].as<uint64_t>()) {
        changed.push_back(account_id);
      }
      present[std::move(account_id)] = true;
    }
    for (const auto& [account_id, version] : base.account_versions) {
      if (!present.contains(account_id)) rule_set.removed_accounts.push_back(account_id);
    }
    std::sort(rule_set.removed_accounts.begin(), rule_set.removed_accounts.end());
    if (changed.empty()) return absl::OkStatus();
    return ReadAccounts(txn, node_id, &changed, settings, &rule_set);
  }));
  return rule_set;
}

absl::Status PgCollectorStore::RecordRulesApplied(const std::string& node_id, uint64_t version,
                                                  const std::string& error,
                                                  const AppliedAccountVersions& accounts) {
  std::vector<std::string> ids, versions;
  ids.reserve(accounts.size());
  versions.reserve(accounts.size());
  for (const auto& [account_id, account_version] : accounts) {
    ids.push_back(account_id);
    versions.push_back(std::to_string(account_version));
  }
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    if (!error.empty()) {
      ExecPrepared(txn, kRulesFailed, node_id, error);
      return absl::OkStatus();
    }
    ExecPrepared(txn, kRulesApplied, node_id, static_cast<int64_t>(version));
    if (!ids.empty()) {
      ExecPrepared(txn, kAccountsApplied, node_id, PgArrayLiteral(ids), PgArrayLiteral(versions));
    }
    return absl::OkStatus();
  });
}

}  // namespace egress
