#include "service/storage/pg_accounts_store.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "service/storage/not_found.h"
#include "service/storage/pg_values.h"
#include "service/storage/rule_changes.h"

namespace egress {
namespace {

constexpr char kSelectNode[] = R"sql(
SELECT n.node_id, host(n.server_ipv4), host(n.server_ipv6),
       array_to_string(n.exempt_networks, ' '),
       (extract(epoch FROM n.created_at) * 1000000)::int8,
       (extract(epoch FROM n.updated_at) * 1000000)::int8,
       egress_node_rule_version(n.node_id), n.applied_rule_version,
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
       config_version = n.config_version + 1,
       updated_at = now()
 WHERE (n.server_ipv4, n.server_ipv6, n.exempt_networks)
       IS DISTINCT FROM (EXCLUDED.server_ipv4, EXCLUDED.server_ipv6, EXCLUDED.exempt_networks)
RETURNING n.node_id)sql";

constexpr char kCountNodeAccounts[] = "SELECT count(*) FROM accounts WHERE node_id = $1";
constexpr char kDeleteNode[] = "DELETE FROM nodes WHERE node_id = $1";
// Lock order (lock_order.md): the node row first. DeleteNode takes it FOR
// UPDATE, which waits for account writers' KEY SHARE locks and keeps new
// accounts off the node until it is gone; account writers take KEY SHARE,
// which does not conflict with each other nor with UpsertNode's update of
// non-key columns.
constexpr char kLockNodeForDelete[] = "SELECT 1 FROM nodes WHERE node_id = $1 FOR UPDATE";
constexpr char kLockNodeKey[] = "SELECT 1 FROM nodes WHERE node_id = $1 FOR KEY SHARE";

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

// A new account is inserted (and so locked) here; an existing one is not
// touched: ON CONFLICT DO NOTHING (also for a uid taken on the node).
constexpr char kInsertAccount[] = R"sql(
INSERT INTO accounts (account_id, node_id, uid) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING account_id)sql";
// An existing account, locked for the change (FOR UPDATE: node_id and uid
// are key columns).
constexpr char kLockAccountKeys[] = R"sql(
SELECT node_id, uid, rule_version FROM accounts WHERE account_id = $1 FOR UPDATE)sql";
constexpr char kMoveAccount[] = "UPDATE accounts SET node_id = $2, uid = $3 WHERE account_id = $1";
constexpr char kCurrentDedicatedIps[] = R"sql(
SELECT host(ip), (extract(epoch FROM ordered_at) * 1000000)::int8
  FROM dedicated_ips WHERE account_id = $1)sql";
constexpr char kReleaseDedicatedIps[] =
    "DELETE FROM dedicated_ips WHERE account_id = $1 AND ip = ANY($2::inet[])";
// Claims in address order, so two accounts claiming overlapping sets never
// wait on each other in a cycle. A claim that meets another account's (even
// one still committing: PostgreSQL waits for it to end) inserts nothing.
constexpr char kClaimDedicatedIps[] = R"sql(
INSERT INTO dedicated_ips (account_id, ip, ordered_at)
SELECT $1, ip, 'epoch'::timestamptz + us * interval '1 microsecond'
  FROM unnest($2::inet[], $3::int8[]) AS t (ip, us)
 ORDER BY ip
ON CONFLICT DO NOTHING RETURNING host(ip))sql";

constexpr char kDeleteAccountData[] = R"sql(
WITH c AS (DELETE FROM connection_daily WHERE account_id = $1),
     t AS (DELETE FROM account_day_totals WHERE account_id = $1)
DELETE FROM accounts WHERE account_id = $1)sql";

absl::Status UidTaken(uint32_t uid, const std::string& node_id, const std::string& owner) {
  return absl::AlreadyExistsError(absl::StrCat("account.uid: uid ", uid, " on node \"", node_id,
                                               "\" belongs to account \"", owner, "\""));
}

absl::Status DedicatedIpTaken(const std::string& ip, const std::string& owner) {
  return absl::AlreadyExistsError(
      absl::StrCat("account.dedicated_ips: ", ip, " is a dedicated IP of account \"", owner, "\""));
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
    // The upsert bumped the node's config version itself (only when
    // something changed).
    if (!changed.empty()) AnnounceRulesChanged(txn, spec.node_id);
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
    if (txn.exec_params(kLockNodeForDelete, node_id).empty()) return NodeNotFound(node_id);
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
  // The wanted dedicated IPs by address text (canonical, as host() prints it).
  std::map<std::string, int64_t> wanted;
  for (const DedicatedIp& dedicated : spec.dedicated_ips) {
    wanted[dedicated.ip.ToString()] = absl::ToUnixMicros(dedicated.ordered_at);
  }
  AccountRecord account;
  // Lock order (lock_order.md): node (KEY SHARE), the account's row, its
  // dedicated IPs in address order; then insert-only rows (departure, audit).
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    if (txn.exec_params(kLockNodeKey, spec.node_id).empty()) {
      return absl::NotFoundError(
          absl::StrCat("account.node_id: node \"", spec.node_id, "\" does not exist"));
    }
    pqxx::result uid_owner = txn.exec_params(kUidOwner, spec.node_id, spec.uid, spec.account_id);
    if (!uid_owner.empty()) {
      return UidTaken(spec.uid, spec.node_id, uid_owner[0][0].as<std::string>());
    }
    // The state before the change is read under the account's row lock: a
    // concurrent upsert of the same account may commit while we wait for it.
    std::optional<std::string> before;
    std::optional<std::string> previous_node;
    uint64_t previous_version = 0;
    if (txn.exec_params(kInsertAccount, spec.account_id, spec.node_id, spec.uid).empty()) {
      pqxx::result existing = txn.exec_params(kLockAccountKeys, spec.account_id);
      if (existing.empty()) {
        // Not inserted, yet no such account: another account took the uid
        // on the node after the check above (it committed meanwhile).
        pqxx::result owner = txn.exec_params(kUidOwner, spec.node_id, spec.uid, spec.account_id);
        return UidTaken(spec.uid, spec.node_id,
                        owner.empty() ? std::string("?") : owner[0][0].as<std::string>());
      }
      previous_node = existing[0][0].as<std::string>();
      previous_version = existing[0][2].as<uint64_t>();
      before = AccountJson(txn, spec.account_id);
      if (*previous_node != spec.node_id || existing[0][1].as<uint32_t>() != spec.uid) {
        try {
          // A savepoint, so a uid taken meanwhile is answered, not thrown.
          pqxx::subtransaction move(txn, "move_account");
          move.exec_params(kMoveAccount, spec.account_id, spec.node_id, spec.uid);
          move.commit();
        } catch (const pqxx::unique_violation&) {
          pqxx::result owner = txn.exec_params(kUidOwner, spec.node_id, spec.uid, spec.account_id);
          return UidTaken(spec.uid, spec.node_id,
                          owner.empty() ? std::string("?") : owner[0][0].as<std::string>());
        }
      }
    }
    // Dedicated IPs: release those no longer wanted (or re-ordered), claim
    // the new ones.
    std::vector<std::string> release;
    for (const pqxx::row& row : txn.exec_params(kCurrentDedicatedIps, spec.account_id)) {
      const std::string ip = row[0].as<std::string>();
      auto it = wanted.find(ip);
      if (it == wanted.end() || it->second != row[1].as<int64_t>()) {
        release.push_back(ip);
      } else {
        wanted.erase(it);  // kept as it is
      }
    }
    if (!release.empty()) {
      txn.exec_params(kReleaseDedicatedIps, spec.account_id, PgArrayLiteral(release));
    }
    // A claim that meets an owner which let go of the address meanwhile
    // (its release committed between our insert and our look-up) simply
    // tries again; an owner still holding it is the answer.
    for (int attempt = 0; !wanted.empty(); ++attempt) {
      std::vector<std::string> ips, ordered_us;
      for (const auto& [ip, us] : wanted) {
        ips.push_back(ip);
        ordered_us.push_back(std::to_string(us));
      }
      for (const pqxx::row& row :
           txn.exec_params(kClaimDedicatedIps, spec.account_id, PgArrayLiteral(ips),
                           PgArrayLiteral(ordered_us))) {
        wanted.erase(row[0].as<std::string>());
      }
      if (wanted.empty()) break;
      std::vector<std::string> missing;
      for (const auto& [ip, us] : wanted) missing.push_back(ip);
      pqxx::result owner =
          txn.exec_params(kDedicatedIpOwner, PgArrayLiteral(missing), spec.account_id);
      if (!owner.empty()) {
        return DedicatedIpTaken(owner[0][0].as<std::string>(), owner[0][1].as<std::string>());
      }
      if (attempt == 2) {
        return absl::AbortedError("account.dedicated_ips: changed concurrently; try again");
      }
    }
    const std::optional<std::string> after = AccountJson(txn, spec.account_id);
    if (before != after) {
      BumpAccountRuleVersion(txn, spec.account_id, spec.node_id);
      if (previous_node.has_value() && *previous_node != spec.node_id) {
        RecordDeparture(txn, *previous_node, spec.account_id, previous_version);
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
    pqxx::result existing = txn.exec_params(kLockAccountKeys, account_id);
    if (existing.empty()) return AccountNotFound(account_id);
    const std::optional<std::string> before = AccountJson(txn, account_id);
    // Audited first: the event belongs to the account being deleted.
    InsertAuditEvent(txn, account_id, actor.name, "account.delete", before, std::nullopt);
    txn.exec_params(kDeleteAccountData, account_id);
    RecordDeparture(txn, existing[0][0].as<std::string>(), account_id,
                    existing[0][2].as<uint64_t>());
    return absl::OkStatus();
  });
}

}  // namespace egress
