// Nodes and accounts: the store interface the AccountsService is written
// against, and the records it deals in. Implemented on PostgreSQL by
// PgAccountsStore; tests of service logic may use a fake.
#ifndef EGRESS_SERVICE_STORAGE_ACCOUNTS_STORE_H_
#define EGRESS_SERVICE_STORAGE_ACCOUNTS_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ip_address.h"
#include "service/domain/actor.h"

namespace egress {

// What an admin sets on a node (validated before it reaches the store).
struct NodeSpec {
  std::string node_id;
  std::optional<IpAddress> server_ipv4;
  std::optional<IpAddress> server_ipv6;
  std::vector<IpNetwork> exempt_networks;
};

// The latest counters a node's agent reported (AgentStats, sent in its Hello
// and periodically); each report replaces the previous one.
struct AgentStatsRecord {
  absl::Time reported_at;  // set by the store
  std::string agent_version;
  uint64_t conntrack_events = 0;
  uint64_t reject_events = 0;
  uint64_t unattributed_events = 0;
  uint64_t netlink_overruns = 0;
  uint64_t resyncs = 0;
  uint64_t records = 0;
  uint64_t batches_sent = 0;
  uint64_t batches_acked = 0;
  uint64_t spool_bytes = 0;
  uint64_t spool_dropped_batches = 0;
  uint64_t applied_rule_version = 0;
  uint64_t nft_errors = 0;
  int32_t conntrack_events_sysctl = -1;
};

struct NodeRecord {
  NodeSpec spec;
  absl::Time created_at;
  absl::Time updated_at;
  uint64_t rule_version = 0;
  uint64_t applied_rule_version = 0;
  uint32_t account_count = 0;
  // None until an agent of the node reported.
  std::optional<AgentStatsRecord> agent_stats;
};

struct DedicatedIp {
  IpAddress ip;
  absl::Time ordered_at;
};

// What an admin sets on an account (validated before it reaches the store).
struct AccountSpec {
  std::string account_id;
  std::string node_id;
  uint32_t uid = 0;
  // Sorted by ordered_at, then address, when read back.
  std::vector<DedicatedIp> dedicated_ips;
};

struct AccountRecord {
  AccountSpec spec;
  absl::Time created_at;
  absl::Time updated_at;
};

// Thread-safe. Every method is one transaction: on error nothing is written.
// Each change that alters what a node enforces (its exempt networks or server
// IPs, an account's uid, node or dedicated IPs) bumps the node's rule version
// and announces it to the other replicas in the same transaction.
class AccountsStore {
 public:
  virtual ~AccountsStore() = default;

  // Creates or replaces the node. Returns the stored record.
  virtual absl::StatusOr<NodeRecord> UpsertNode(const NodeSpec& spec, const Actor& actor) = 0;
  // NOT_FOUND if unknown.
  virtual absl::StatusOr<NodeRecord> GetNode(const std::string& node_id) = 0;
  // Nodes with node_id > after, ordered by node_id, at most `limit`.
  virtual absl::StatusOr<std::vector<NodeRecord>> ListNodes(const std::string& after,
                                                            int limit) = 0;
  // NOT_FOUND if unknown; FAILED_PRECONDITION while accounts live on it.
  virtual absl::Status DeleteNode(const std::string& node_id, const Actor& actor) = 0;

  // Creates or replaces the account and its dedicated IPs.
  // NOT_FOUND: unknown node. ALREADY_EXISTS: another account of the node has
  // the uid, or another account owns one of the dedicated IPs.
  virtual absl::StatusOr<AccountRecord> UpsertAccount(const AccountSpec& spec,
                                                      const Actor& actor) = 0;
  // NOT_FOUND if unknown.
  virtual absl::StatusOr<AccountRecord> GetAccount(const std::string& account_id) = 0;
  // Accounts with account_id > after (of `node_id` if not empty), ordered by
  // account_id, at most `limit`.
  virtual absl::StatusOr<std::vector<AccountRecord>> ListAccounts(const std::string& node_id,
                                                                  const std::string& after,
                                                                  int limit) = 0;
  // Deletes the account with its rules, locks, scans and recorded connections.
  // NOT_FOUND if unknown.
  virtual absl::Status DeleteAccount(const std::string& account_id, const Actor& actor) = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_ACCOUNTS_STORE_H_
