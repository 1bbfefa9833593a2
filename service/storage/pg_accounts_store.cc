#include "service/storage/pg_accounts_store.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "service/storage/pg_values.h"
#include "service/storage/rule_changes.h"

namespace egress {
namespace {

constexpr char kSelectNode[] = R"sql(
SELECT n.node_id, host(n.server_ipv4), host(n.server_ipv6),
       array_to_string(n.exempt_networks, ' '),
       (extract(epoch FROM n.created_at) * 1000000)::int8,
       (extract(epoch FROM n.updated_at) * 1000000)::int8,
       n.rule_version, n.applied_rule_version,
       (SELECT count(*) FROM accounts a WHERE a.node_id = n.node_id),
       (extract(epoch FROM s.reported_at) * 1000000)::int8, s.agent_version,
       s.conntrack_events, s.reject_events, s.unattributed_events, s.netlink_overruns,
       s.resyncs, s.records, s.batches_sent, s.batches_acked, s.spool_bytes,
       s.spool_dropped_batches, s.applied_rule_version, s.nft_errors, s.conntrack_events_sysctl
  FROM nodes n LEFT JOIN node_agent_stats s ON s.node_id = n.node_id)sql";

constexpr char kUpsertNode[] = R"sql(
INSERT INTO nodes AS n (node_id, server_ipv4, server_ipv6, exempt_networks)
VALUES ($1, $2::inet, $3::inet, $4::cidr[])
ON CONFLICT (node_id) DO UPDATE
   SET server_ipv4 = EXCLUDED.server_ipv4,
       server_ipv6 = EXCLUDED.server_ipv6,
       exempt_networks = EXCLUDED.exempt_networks,
       rule_version = n.rule_version + 1,
       updated_at = now()
 WHERE (n.server_ipv4, n.server_ipv6, n.exempt_networks)
       IS DISTINCT FROM (EXCLUDED.server_ipv4, EXCLUDED.server_ipv6, EXCLUDED.exempt_networks)
RETURNING n.node_id)sql";

constexpr char kCountNodeAccounts[] = "SELECT count(*) FROM accounts WHERE node_id = $1";
constexpr char kDeleteNode[] = "DELETE FROM nodes WHERE node_id = $1";
constexpr char kLockNode[] = "SELECT 1 FROM nodes WHERE node_id = $1 FOR SHARE";

constexpr char kSelectAccount[] = R"sql(
SELECT a.account_id, a.node_id, a.uid,
       (extract(epoch FROM a.created_at) * 1000000)::int8,
       (extract(epoch FROM a.updated_at) * 1000000)::int8
  FROM accounts a)sql";

constexpr char kSelectDedicatedIps[] = R"sql(
SELECT account_id, host(ip), (extract(epoch FROM ordered_at) * 1000000)::int8
  FROM dedicated_ips
 WHERE account_id = ANY($1::text[])
 ORDER BY account_id, ordered_at, ip)sql";

// The account as JSON, for change detection and the audit log.
constexpr char kAccountJson[] = R"sql(
SELECT jsonb_build_object(
         'node_id', a.node_id, 'uid', a.uid,
         'dedicated_ips', coalesce((
            SELECT jsonb_agg(jsonb_build_object('ip', host(d.ip), 'ordered_at', d.ordered_at)
                             ORDER BY d.ordered_at, d.ip)
              FROM dedicated_ips d WHERE d.account_id = a.account_id), '[]'::jsonb))::text
  FROM accounts a WHERE a.account_id = $1)sql";

constexpr char kUidOwner[] =
    "SELECT account_id FROM accounts WHERE node_id = $1 AND uid = $2 AND account_id <> $3";

constexpr char kDedicatedIpOwner[] = R"sql(
SELECT host(ip), account_id FROM dedicated_ips
 WHERE ip = ANY($1::inet[]) AND account_id <> $2
 ORDER BY ip LIMIT 1)sql";

constexpr char kPreviousNode[] = "SELECT node_id FROM accounts WHERE account_id = $1 FOR UPDATE";

constexpr char kUpsertAccount[] = R"sql(
INSERT INTO accounts AS a (account_id, node_id, uid) VALUES ($1, $2, $3)
ON CONFLICT (account_id) DO UPDATE SET node_id = EXCLUDED.node_id, uid = EXCLUDED.uid)sql";

constexpr char kDeleteDedicatedIps[] = "DELETE FROM dedicated_ips WHERE account_id = $1";

constexpr char kInsertDedicatedIps[] = R"sql(
INSERT INTO dedicated_ips (account_id, ip, ordered_at)
SELECT $1, ip, 'epoch'::timestamptz + us * interval '1 microsecond'
  FROM unnest($2::inet[], $3::int8[]) AS t (ip, us))sql";

constexpr char kDeleteAccountData[] = R"sql(
WITH c AS (DELETE FROM connection_daily WHERE account_id = $1),
     t AS (DELETE FROM account_day_totals WHERE account_id = $1)
DELETE FROM accounts WHERE account_id = $1)sql";

const char* NullableText(const std::optional<std::string>& value) {
  return value.has_value() ? value->c_str() : nullptr;
}

std::optional<std::string> IpText(const std::optional<IpAddress>& ip) {
  if (!ip.has_value()) return std::nullopt;
  return ip->ToString();
}

absl::StatusOr<std::optional<IpAddress>> OptionalIp(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpFromPg(field.c_str()));
  return ip;
}

absl::StatusOr<NodeRecord> NodeFromRow(const pqxx::row& row) {
  NodeRecord node;
  node.spec.node_id = row[0].as<std::string>();
  EGRESS_ASSIGN_OR_RETURN(node.spec.server_ipv4, OptionalIp(row[1]));
  EGRESS_ASSIGN_OR_RETURN(node.spec.server_ipv6, OptionalIp(row[2]));
  for (absl::string_view text : absl::StrSplit(row[3].c_str(), ' ', absl::SkipEmpty())) {
    EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(text));
    node.spec.exempt_networks.push_back(network);
  }
  node.created_at = absl::FromUnixMicros(row[4].as<int64_t>());
  node.updated_at = absl::FromUnixMicros(row[5].as<int64_t>());
  node.rule_version = row[6].as<uint64_t>();
  node.applied_rule_version = row[7].as<uint64_t>();
  node.account_count = row[8].as<uint32_t>();
  if (!row[9].is_null()) {
    AgentStatsRecord& stats = node.agent_stats.emplace();
    stats.reported_at = absl::FromUnixMicros(row[9].as<int64_t>());
    stats.agent_version = row[10].as<std::string>();
    uint64_t* counters[] = {&stats.conntrack_events,
                            &stats.reject_events,
                            &stats.unattributed_events,
                            &stats.netlink_overruns,
                            &stats.resyncs,
                            &stats.records,
                            &stats.batches_sent,
                            &stats.batches_acked,
                            &stats.spool_bytes,
                            &stats.spool_dropped_batches,
                            &stats.applied_rule_version,
                            &stats.nft_errors};
    int column = 11;
    for (uint64_t* counter : counters) *counter = row[column++].as<uint64_t>();
    stats.conntrack_events_sysctl = row[column].as<int32_t>();
  }
  return node;
}

absl::StatusOr<std::vector<NodeRecord>> NodesFromResult(const pqxx::result& result) {
  std::vector<NodeRecord> nodes;
  nodes.reserve(result.size());
  for (const pqxx::row& row : result) {
    EGRESS_ASSIGN_OR_RETURN(NodeRecord node, NodeFromRow(row));
    nodes.push_back(std::move(node));
  }
  return nodes;
}

// Reads accounts (rows of kSelectAccount) together with their dedicated IPs.
absl::StatusOr<std::vector<AccountRecord>> AccountsFromResult(pqxx::work& txn,
                                                              const pqxx::result& result) {
  std::vector<AccountRecord> accounts;
  std::vector<std::string> ids;
  std::map<std::string, size_t> index;
  for (const pqxx::row& row : result) {
    AccountRecord account;
    account.spec.account_id = row[0].as<std::string>();
    account.spec.node_id = row[1].as<std::string>();
    account.spec.uid = row[2].as<uint32_t>();
    account.created_at = absl::FromUnixMicros(row[3].as<int64_t>());
    account.updated_at = absl::FromUnixMicros(row[4].as<int64_t>());
    index[account.spec.account_id] = accounts.size();
    ids.push_back(account.spec.account_id);
    accounts.push_back(std::move(account));
  }
  if (ids.empty()) return accounts;
  for (const pqxx::row& row : txn.exec_params(kSelectDedicatedIps, PgArrayLiteral(ids))) {
    EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpFromPg(row[1].c_str()));
    accounts[index.at(row[0].as<std::string>())].spec.dedicated_ips.push_back(
        DedicatedIp{ip, absl::FromUnixMicros(row[2].as<int64_t>())});
  }
  return accounts;
}

std::optional<std::string> AccountJson(pqxx::work& txn, const std::string& account_id) {
  pqxx::result result = txn.exec_params(kAccountJson, account_id);
  if (result.empty()) return std::nullopt;
  return result[0][0].as<std::string>();
}

absl::Status NodeNotFound(const std::string& node_id) {
  return absl::NotFoundError(absl::StrCat("node \"", node_id, "\" does not exist"));
}

absl::Status AccountNotFound(const std::string& account_id) {
  return absl::NotFoundError(absl::StrCat("account \"", account_id, "\" does not exist"));
}

}  // namespace

absl::StatusOr<NodeRecord> PgAccountsStore::UpsertNode(const NodeSpec& spec, const Actor&) {
  std::vector<std::string> exempt;
  for (const IpNetwork& network : spec.exempt_networks) exempt.push_back(network.ToString());
  const std::optional<std::string> ipv4 = IpText(spec.server_ipv4);
  const std::optional<std::string> ipv6 = IpText(spec.server_ipv6);
  NodeRecord node;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result changed = txn.exec_params(kUpsertNode, spec.node_id, NullableText(ipv4),
                                           NullableText(ipv6), PgArrayLiteral(exempt));
    // The upsert bumped the version itself (only when something changed).
    if (!changed.empty())
      txn.exec_params("SELECT pg_notify($1, $2)", kRulesChangedChannel, spec.node_id);
    pqxx::result row =
        txn.exec_params(absl::StrCat(kSelectNode, " WHERE n.node_id = $1"), spec.node_id);
    EGRESS_ASSIGN_OR_RETURN(node, NodeFromRow(row.at(0)));
    return absl::OkStatus();
  }));
  return node;
}

absl::StatusOr<NodeRecord> PgAccountsStore::GetNode(const std::string& node_id) {
  NodeRecord node;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result row = txn.exec_params(absl::StrCat(kSelectNode, " WHERE n.node_id = $1"), node_id);
    if (row.empty()) return NodeNotFound(node_id);
    EGRESS_ASSIGN_OR_RETURN(node, NodeFromRow(row[0]));
    return absl::OkStatus();
  }));
  return node;
}

absl::StatusOr<std::vector<NodeRecord>> PgAccountsStore::ListNodes(const std::string& after,
                                                                   int limit) {
  std::vector<NodeRecord> nodes;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows = txn.exec_params(
        absl::StrCat(kSelectNode, " WHERE n.node_id > $1 ORDER BY n.node_id LIMIT $2"), after,
        limit);
    EGRESS_ASSIGN_OR_RETURN(nodes, NodesFromResult(rows));
    return absl::OkStatus();
  }));
  return nodes;
}

absl::Status PgAccountsStore::DeleteNode(const std::string& node_id, const Actor&) {
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    if (txn.exec_params(kLockNode, node_id).empty()) return NodeNotFound(node_id);
    const int64_t accounts = txn.exec_params1(kCountNodeAccounts, node_id)[0].as<int64_t>();
    if (accounts > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node \"", node_id, "\" still has ", accounts, " account(s); move or delete them first"));
    }
    txn.exec_params(kDeleteNode, node_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<AccountRecord> PgAccountsStore::UpsertAccount(const AccountSpec& spec,
                                                             const Actor& actor) {
  std::vector<std::string> ips;
  std::vector<std::string> ordered_us;
  for (const DedicatedIp& dedicated : spec.dedicated_ips) {
    ips.push_back(dedicated.ip.ToString());
    ordered_us.push_back(std::to_string(absl::ToUnixMicros(dedicated.ordered_at)));
  }
  AccountRecord account;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    if (txn.exec_params(kLockNode, spec.node_id).empty()) {
      return absl::NotFoundError(
          absl::StrCat("account.node_id: node \"", spec.node_id, "\" does not exist"));
    }
    pqxx::result uid_owner = txn.exec_params(kUidOwner, spec.node_id, spec.uid, spec.account_id);
    if (!uid_owner.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("account.uid: uid ", spec.uid, " on node \"",
                                                   spec.node_id, "\" belongs to account \"",
                                                   uid_owner[0][0].as<std::string>(), "\""));
    }
    if (!ips.empty()) {
      pqxx::result ip_owner =
          txn.exec_params(kDedicatedIpOwner, PgArrayLiteral(ips), spec.account_id);
      if (!ip_owner.empty()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "account.dedicated_ips: ", ip_owner[0][0].as<std::string>(),
            " is a dedicated IP of account \"", ip_owner[0][1].as<std::string>(), "\""));
      }
    }
    pqxx::result previous = txn.exec_params(kPreviousNode, spec.account_id);
    const std::optional<std::string> before = AccountJson(txn, spec.account_id);
    try {
      txn.exec_params(kUpsertAccount, spec.account_id, spec.node_id, spec.uid);
      txn.exec_params(kDeleteDedicatedIps, spec.account_id);
      txn.exec_params(kInsertDedicatedIps, spec.account_id, PgArrayLiteral(ips),
                      PgArrayLiteral(ordered_us));
    } catch (const pqxx::unique_violation& error) {
      // A concurrent upsert took the uid or an IP after our checks.
      return absl::AlreadyExistsError(
          absl::StrCat("account: conflicts with a concurrent change: ", error.what()));
    }
    const std::optional<std::string> after = AccountJson(txn, spec.account_id);
    if (before != after) {
      RecordRuleChange(txn, spec.node_id, &spec.account_id);
      if (!previous.empty() && previous[0][0].as<std::string>() != spec.node_id) {
        RecordRuleChange(txn, previous[0][0].as<std::string>(), nullptr);
      }
      InsertAuditEvent(txn, spec.account_id, actor.name, "account.upsert", before, after);
    }
    pqxx::result rows =
        txn.exec_params(absl::StrCat(kSelectAccount, " WHERE a.account_id = $1"), spec.account_id);
    EGRESS_ASSIGN_OR_RETURN(std::vector<AccountRecord> accounts, AccountsFromResult(txn, rows));
    account = std::move(accounts.at(0));
    return absl::OkStatus();
  }));
  return account;
}

absl::StatusOr<AccountRecord> PgAccountsStore::GetAccount(const std::string& account_id) {
  AccountRecord account;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows =
        txn.exec_params(absl::StrCat(kSelectAccount, " WHERE a.account_id = $1"), account_id);
    if (rows.empty()) return AccountNotFound(account_id);
    EGRESS_ASSIGN_OR_RETURN(std::vector<AccountRecord> accounts, AccountsFromResult(txn, rows));
    account = std::move(accounts.at(0));
    return absl::OkStatus();
  }));
  return account;
}

absl::StatusOr<std::vector<AccountRecord>> PgAccountsStore::ListAccounts(const std::string& node_id,
                                                                         const std::string& after,
                                                                         int limit) {
  std::vector<AccountRecord> accounts;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows =
        txn.exec_params(absl::StrCat(kSelectAccount,
                                     " WHERE ($1 = '' OR a.node_id = $1) AND a.account_id > $2"
                                     " ORDER BY a.account_id LIMIT $3"),
                        node_id, after, limit);
    EGRESS_ASSIGN_OR_RETURN(accounts, AccountsFromResult(txn, rows));
    return absl::OkStatus();
  }));
  return accounts;
}

absl::Status PgAccountsStore::DeleteAccount(const std::string& account_id, const Actor& actor) {
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result previous = txn.exec_params(kPreviousNode, account_id);
    if (previous.empty()) return AccountNotFound(account_id);
    const std::optional<std::string> before = AccountJson(txn, account_id);
    txn.exec_params(kDeleteAccountData, account_id);
    RecordRuleChange(txn, previous[0][0].as<std::string>(), nullptr);
    InsertAuditEvent(txn, account_id, actor.name, "account.delete", before, std::nullopt);
    return absl::OkStatus();
  });
}

}  // namespace egress
