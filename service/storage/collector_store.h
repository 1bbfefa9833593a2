// What the agents' stream (CollectorService) needs from the database:
// exactly-once batch commits, the node's rule set, and what nodes applied.
#ifndef EGRESS_SERVICE_STORAGE_COLLECTOR_STORE_H_
#define EGRESS_SERVICE_STORAGE_COLLECTOR_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/action.h"
#include "common/ip_address.h"
#include "common/protocol.h"
#include "service/storage/accounts_store.h"

namespace egress {

// One validated daily aggregate, attributed to an account.
struct IngestRecord {
  std::string account_id;
  absl::CivilDay day;
  IpAddress ip;
  Protocol protocol = Protocol::kTcp;  // tcp, udp, icmp or icmpv6 (never kAny)
  uint16_t port = 0;                   // 0 for ICMP
  Action action = Action::kAccept;
  uint64_t count = 0;
  absl::Time first_seen;
  absl::Time last_seen;
};

struct IngestLoss {
  absl::CivilDay day;
  int reason = 0;  // LossReport.Reason
  uint64_t events = 0;
  // LossReport.size_unknown: `events` is only what is known to be lost.
  bool size_unknown = false;
};

struct IngestBatch {
  std::string node_id;
  uint64_t seq = 0;
  std::vector<IngestRecord> records;
  std::vector<IngestLoss> losses;
};

struct CommitResult {
  // The node had already committed this sequence: nothing was written.
  bool duplicate = false;
  // The node's last committed sequence before this batch.
  uint64_t previous_seq = 0;
};

// A node's identity and its accounts, for attributing records by uid.
struct NodeInfo {
  std::string node_id;
  absl::flat_hash_map<uint32_t, std::string> account_by_uid;
  uint64_t last_committed_seq = 0;
};

struct RuleMatchEntry {
  uint64_t rule_id = 0;
  IpNetwork network;
  Protocol protocol = Protocol::kAny;  // kAny, kTcp or kUdp
  uint16_t port = 0;                   // 0 any
  // nullopt: permanent. A rule whose expiry passed but that the sweeper has
  // not deleted yet is still listed: the agent skips it.
  std::optional<absl::Time> expires_at;
};

struct AccountRuleSet {
  std::string account_id;
  uint32_t uid = 0;
  // The account's own rule version (accounts.rule_version).
  uint64_t version = 0;
  std::vector<RuleMatchEntry> rules;
  bool block_all = false;
  std::optional<IpAddress> egress_ipv4;
  std::optional<IpAddress> egress_ipv6;
};

// Everything one node enforces, at one rule version, or (partial) what
// changed since a RuleSetBase.
struct NodeRuleSet {
  // The node's rule set version (egress_node_rule_version: grows with every
  // change of anything the node enforces).
  uint64_t version = 0;
  // The version of the node's own settings (exempt networks, server IPs).
  uint64_t config_version = 0;
  std::vector<IpNetwork> exempt_networks;
  // Ordered by uid.
  std::vector<AccountRuleSet> accounts;
  // LoadRuleSetChanges only: `accounts` holds just the accounts added or
  // changed since the base, `removed_accounts` those that left the node,
  // and exempt_networks is empty (unchanged). False: a full rule set.
  bool partial = false;
  std::vector<std::string> removed_accounts;
};

// What one agent stream has been sent: the base a partial rule set is
// computed against.
struct RuleSetBase {
  uint64_t version = 0;
  uint64_t config_version = 0;
  absl::flat_hash_map<std::string, uint64_t> account_versions;
};

// The account versions a node confirmed with one RulesApplied.
using AppliedAccountVersions = std::vector<std::pair<std::string, uint64_t>>;

// Thread-safe; each method is one transaction.
class CollectorStore {
 public:
  virtual ~CollectorStore() = default;

  // NOT_FOUND if the node does not exist.
  virtual absl::StatusOr<NodeInfo> LoadNode(const std::string& node_id) = 0;

  // Adds the batch's records to the daily aggregates and per-day totals,
  // its losses to the node's per-day losses, queues new destination IPs for
  // enrichment, and records `seq` as the node's last committed sequence, all
  // in one transaction. A batch with seq <= the last committed one writes
  // nothing and reports `duplicate`.
  virtual absl::StatusOr<CommitResult> CommitBatch(const IngestBatch& batch) = 0;

  // Group commit: the batches (of one or several nodes) in one transaction,
  // as if committed one after the other in the given order. For each node,
  // its sequence row is locked, then each of its batches is a duplicate
  // (seq <= the node's last sequence so far, nothing of it written) or is
  // accepted (its seq becomes the node's last); the accepted batches'
  // records, totals and losses are merged by key and written once, new IPs
  // queued, and every node's last sequence advanced, all in the same
  // transaction. On error nothing of any batch is written. Returns one
  // result per batch, in order. `batches` must be non-empty.
  virtual absl::StatusOr<std::vector<CommitResult>> CommitBatches(
      const std::vector<const IngestBatch*>& batches) = 0;

  // A consistent snapshot of the node's rules (one REPEATABLE READ
  // transaction), labelled with the node's rule set version.
  virtual absl::StatusOr<NodeRuleSet> LoadRuleSet(const std::string& node_id) = 0;

  // What changed since `base`, in one snapshot: a partial NodeRuleSet with
  // the accounts whose version differs from the base's (or that are new)
  // and the accounts gone from the node; a full one when the node's own
  // settings changed (they shape every account's egress address). Nothing
  // changed: version == base.version and no accounts. Costs one read of
  // the node's account versions plus the rules of the changed accounts.
  virtual absl::StatusOr<NodeRuleSet> LoadRuleSetChanges(const std::string& node_id,
                                                         const RuleSetBase& base) = 0;

  // The agent applied `version` (error empty) or failed to (error says why;
  // the applied version stays). With success, `accounts` are the account
  // versions that version holds for the accounts it changed; each becomes
  // the account's confirmed version on this node (AccountStatus.enforced).
  virtual absl::Status RecordRulesApplied(const std::string& node_id, uint64_t version,
                                          const std::string& error,
                                          const AppliedAccountVersions& accounts) = 0;

  // Replaces the node's latest agent counters (reported_at is set to now).
  virtual absl::Status RecordAgentStats(const std::string& node_id,
                                        const AgentStatsRecord& stats) = 0;

  // Creates the monthly partitions covering [from, to] and drops those whose
  // whole month ends before `drop_before`. Returns (created, dropped).
  virtual absl::StatusOr<std::pair<int, int>> MaintainPartitions(absl::CivilDay from,
                                                                 absl::CivilDay to,
                                                                 absl::CivilDay drop_before) = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_COLLECTOR_STORE_H_
