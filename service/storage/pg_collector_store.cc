#include "service/storage/pg_collector_store.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/civil_day.h"
#include "common/status_macros.h"
#include "service/storage/ingest_journal_codec.h"
#include "service/storage/pg_values.h"

namespace egress {
namespace {

constexpr char kSelectNodeAccounts[] = R"sql(
SELECT a.account_id, a.uid, coalesce(s.last_seq, 0)
  FROM nodes n
  LEFT JOIN accounts a ON a.node_id = n.node_id
  LEFT JOIN ingest_sequences s ON s.node_id = n.node_id
 WHERE n.node_id = $1)sql";

constexpr char kEnsureSequenceRows[] = R"sql(
INSERT INTO ingest_sequences (node_id, last_seq)
SELECT unnest($1::text[]), 0 ON CONFLICT DO NOTHING)sql";
constexpr char kLockSequences[] = R"sql(
SELECT node_id, last_seq FROM ingest_sequences
 WHERE node_id = ANY ($1::text[]) ORDER BY node_id FOR UPDATE)sql";
constexpr char kAdvanceSequences[] = R"sql(
UPDATE ingest_sequences s SET last_seq = t.last_seq, committed_at = now()
  FROM unnest($1::text[], $2::int8[]) AS t (node_id, last_seq)
 WHERE s.node_id = t.node_id AND s.last_seq <> t.last_seq)sql";

// One statement per month of the group's days (see CommitBatches): the
// aggregates are merged into that month's partition of connection_daily,
// then the per-(account, day) totals gain the counts and the number of rows
// this statement inserted (the rows the panel pages through). A row that
// ON CONFLICT DO UPDATE updated carries our transaction as xmax (the tuple
// lock it took first); a row it inserted has none, so `xmax = 0` tells them
// apart exactly, also when a concurrent transaction inserted the same key
// first (we then update it). PostgreSQL returns system columns only from a
// plain table, hence the partition by name rather than the parent.
//   {partition}  $1..$9 the aggregates, sorted by key  $10..$13 the totals
constexpr char kUpsertAggregatesAndTotals[] = R"sql(
WITH merged AS (
INSERT INTO {partition} AS c
       (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
SELECT account_id, day, ip, protocol, port, action, count,
       'epoch'::timestamptz + first_us * interval '1 microsecond',
       'epoch'::timestamptz + last_us * interval '1 microsecond'
  FROM unnest($1::text[], $2::date[], $3::inet[], $4::int2[], $5::int4[], $6::int2[],
              $7::int8[], $8::int8[], $9::int8[])
       AS t (account_id, day, ip, protocol, port, action, count, first_us, last_us)
ON CONFLICT (account_id, day, ip, protocol, port, action) DO UPDATE
   SET count = c.count + EXCLUDED.count,
       first_seen = least(c.first_seen, EXCLUDED.first_seen),
       last_seen = greatest(c.last_seen, EXCLUDED.last_seen)
RETURNING c.account_id, c.day, c.action, c.xmax = 0 AS inserted),
new_rows AS (
SELECT account_id, day, count(*) FILTER (WHERE action = 1) AS accepted_rows,
       count(*) FILTER (WHERE action = 2) AS rejected_rows
  FROM merged WHERE inserted GROUP BY account_id, day)
INSERT INTO account_day_totals AS t
       (account_id, day, accepted, rejected, accepted_rows, rejected_rows)
SELECT d.account_id, d.day, d.accepted, d.rejected,
       coalesce(n.accepted_rows, 0), coalesce(n.rejected_rows, 0)
  FROM unnest($10::text[], $11::date[], $12::int8[], $13::int8[])
       AS d (account_id, day, accepted, rejected)
  LEFT JOIN new_rows n ON n.account_id = d.account_id AND n.day = d.day
 ORDER BY d.account_id, d.day
ON CONFLICT (account_id, day) DO UPDATE
   SET accepted = t.accepted + EXCLUDED.accepted, rejected = t.rejected + EXCLUDED.rejected,
       accepted_rows = t.accepted_rows + EXCLUDED.accepted_rows,
       rejected_rows = t.rejected_rows + EXCLUDED.rejected_rows)sql";

// Journal mode (see migration 0004): a group's merged records, one row per
// shard it has records of.
constexpr char kAppendJournal[] =
    "INSERT INTO ingest_journal (shard, records, payload) VALUES ($1, $2, $3)";
// One folder per shard at a time across replicas (the others skip their
// turn); keyed by the journal table's oid so it cannot collide with another
// lock.
constexpr char kTryFoldLock[] =
    "SELECT pg_try_advisory_xact_lock('ingest_journal'::regclass::oid::int4, 1 + $1)";
constexpr char kSelectJournalEntries[] = R"sql(
SELECT entry_id, records FROM ingest_journal WHERE shard BETWEEN $1 AND $3
ORDER BY entry_id LIMIT $2)sql";
constexpr char kDeleteJournalEntries[] = R"sql(
DELETE FROM ingest_journal WHERE entry_id = ANY ($1::int8[]) RETURNING payload, records)sql";
constexpr char kJournalBacklog[] = R"sql(
SELECT count(*), coalesce(sum(records), 0),
       coalesce((extract(epoch FROM now() - min(committed_at)) * 1000000)::int8, 0)
  FROM ingest_journal)sql";
constexpr size_t kFoldEntriesAtMost = 4096;

constexpr char kUpsertLosses[] = R"sql(
INSERT INTO node_day_losses AS l (node_id, day, reason, events, size_unknown)
SELECT * FROM unnest($1::text[], $2::date[], $3::int2[], $4::int8[], $5::bool[])
ON CONFLICT (node_id, day, reason) DO UPDATE
   SET events = l.events + EXCLUDED.events,
       size_unknown = l.size_unknown OR EXCLUDED.size_unknown)sql";

// New destinations wait here for the enrichment worker (status pending).
constexpr char kQueueNewIps[] = R"sql(
INSERT INTO ip_info (ip) SELECT unnest($1::inet[]) ORDER BY 1 ON CONFLICT DO NOTHING)sql";

//   $1 node  $2 agent version  $3..$14 counters  $15 sysctl
constexpr char kUpsertAgentStats[] = R"sql(
INSERT INTO node_agent_stats AS s (node_id, reported_at, agent_version, conntrack_events,
    reject_events, unattributed_events, netlink_overruns, resyncs, records, batches_sent,
    batches_acked, spool_bytes, spool_dropped_batches, applied_rule_version, nft_errors,
    conntrack_events_sysctl)
VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (node_id) DO UPDATE
   SET (reported_at, agent_version, conntrack_events, reject_events, unattributed_events,
        netlink_overruns, resyncs, records, batches_sent, batches_acked, spool_bytes,
        spool_dropped_batches, applied_rule_version, nft_errors, conntrack_events_sysctl) =
       (EXCLUDED.reported_at, EXCLUDED.agent_version, EXCLUDED.conntrack_events,
        EXCLUDED.reject_events, EXCLUDED.unattributed_events, EXCLUDED.netlink_overruns,
        EXCLUDED.resyncs, EXCLUDED.records, EXCLUDED.batches_sent, EXCLUDED.batches_acked,
        EXCLUDED.spool_bytes, EXCLUDED.spool_dropped_batches, EXCLUDED.applied_rule_version,
        EXCLUDED.nft_errors, EXCLUDED.conntrack_events_sysctl))sql";

constexpr char kPartitionExists[] = "SELECT to_regclass($1) IS NOT NULL";
constexpr char kEnsurePartitions[] = "SELECT egress_ensure_partitions($1::date, $2)";
constexpr char kDropPartitions[] = "SELECT egress_drop_partitions_before($1::date)";

std::string DayText(absl::CivilDay day) { return FormatDay(day); }

using DayTotals = std::map<std::pair<absl::string_view, absl::CivilDay>,
                           std::pair<uint64_t, uint64_t>>;  // (accepted, rejected)

// The array parameters of kUpsertAggregatesAndTotals for one month.
class MonthColumns {
 public:
  void AddAggregate(const AggregateKey& key, const Aggregate& aggregate) {
    accounts_.AddText(key.account);
    days_.AddToken(DayText(key.day));
    ips_.AddToken(key.ip.ToString());
    protocols_.AddNumber(static_cast<int>(key.protocol));
    ports_.AddNumber(key.port);
    actions_.AddNumber(static_cast<int>(key.action));
    counts_.AddNumber(static_cast<int64_t>(aggregate.count));
    firsts_.AddNumber(absl::ToUnixMicros(aggregate.first_seen));
    lasts_.AddNumber(absl::ToUnixMicros(aggregate.last_seen));
  }

  void AddTotal(const DayTotals::value_type& total) {
    total_accounts_.AddText(total.first.first);
    total_days_.AddToken(DayText(total.first.second));
    accepted_.AddNumber(static_cast<int64_t>(total.second.first));
    rejected_.AddNumber(static_cast<int64_t>(total.second.second));
  }

  void Upsert(pqxx::work& txn, absl::CivilMonth month) {
    static const std::string* const kSql = new std::string(kUpsertAggregatesAndTotals);
    const std::string partition =
        absl::StrFormat("connection_daily_%04d%02d", month.year(), month.month());
    // Partitions are made ahead by the maintainer; a month missing here is
    // one that journal entries waited past (a long outage) or that retention
    // dropped meanwhile: made now, so the entries are not stuck (retention
    // drops it again on its next round).
    if (!txn.exec_params1(kPartitionExists, partition)[0].as<bool>()) {
      txn.exec_params(kEnsurePartitions, DayText(absl::CivilDay(month)), 1);
    }
    txn.exec_params(absl::StrReplaceAll(*kSql, {{"{partition}", partition}}), accounts_.Take(),
                    days_.Take(), ips_.Take(), protocols_.Take(), ports_.Take(), actions_.Take(),
                    counts_.Take(), firsts_.Take(), lasts_.Take(), total_accounts_.Take(),
                    total_days_.Take(), accepted_.Take(), rejected_.Take());
  }

 private:
  PgArrayBuilder accounts_, days_, ips_, protocols_, ports_, actions_, counts_, firsts_, lasts_;
  PgArrayBuilder total_accounts_, total_days_, accepted_, rejected_;
};

}  // namespace

size_t JournalShardOf(absl::string_view account, int shards) {
  uint32_t hash = 2166136261u;  // FNV-1a
  for (unsigned char c : account) hash = (hash ^ c) * 16777619u;
  return hash % static_cast<uint32_t>(std::max(1, shards));
}

absl::StatusOr<NodeInfo> PgCollectorStore::LoadNode(const std::string& node_id) {
  NodeInfo node;
  node.node_id = node_id;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result rows = txn.exec_params(kSelectNodeAccounts, node_id);
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("node \"", node_id, "\" does not exist"));
    }
    for (const pqxx::row& row : rows) {
      node.last_committed_seq = row[2].as<uint64_t>();
      if (row[0].is_null()) continue;
      node.account_by_uid[row[1].as<uint32_t>()] = row[0].as<std::string>();
    }
    return absl::OkStatus();
  }));
  return node;
}

absl::StatusOr<CommitResult> PgCollectorStore::CommitBatch(const IngestBatch& batch) {
  EGRESS_ASSIGN_OR_RETURN(std::vector<CommitResult> results, CommitBatches({&batch}));
  return results[0];
}

absl::StatusOr<std::vector<CommitResult>> PgCollectorStore::CommitBatches(
    const std::vector<const IngestBatch*>& batches) {
  if (batches.empty()) return absl::InvalidArgumentError("CommitBatches: no batches");
  std::vector<std::string> nodes;
  for (const IngestBatch* batch : batches) nodes.push_back(batch->node_id);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  const std::string nodes_literal = PgArrayLiteral(nodes);

  std::vector<CommitResult> results;
  std::vector<IpAddress> pending_known_ips;
  // The body may run again (deadlock retry): it only touches these locals.
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    results.assign(batches.size(), CommitResult{});
    pending_known_ips.clear();
    // Locked in node order, so concurrent groups never wait on each other in
    // a cycle.
    txn.exec_params(kEnsureSequenceRows, nodes_literal);
    absl::flat_hash_map<std::string, uint64_t> last_seq;
    for (const pqxx::row& row : txn.exec_params(kLockSequences, nodes_literal)) {
      last_seq[row[0].as<std::string>()] = row[1].as<uint64_t>();
    }
    // Which batches are new, in the given order per node.
    std::vector<const IngestBatch*> accepted;
    for (size_t i = 0; i < batches.size(); ++i) {
      uint64_t& last = last_seq[batches[i]->node_id];
      results[i].previous_seq = last;
      results[i].duplicate = batches[i]->seq <= last;
      if (results[i].duplicate) continue;
      last = batches[i]->seq;
      accepted.push_back(batches[i]);
    }
    if (accepted.empty()) return absl::OkStatus();

    // Merge: one row per key (fewer rows to write when keys recur).
    size_t records = 0;
    for (const IngestBatch* batch : accepted) records += batch->records.size();
    // Journal mode: one map per journal shard (an account's keys always in
    // the same one); direct mode: one map.
    const bool journal = mode_ == IngestMode::kJournal && !journal_bypass_.load();
    const size_t shards = journal ? static_cast<size_t>(journal_shards_) : 1;
    std::vector<AggregateMap> aggregates(shards);
    for (AggregateMap& map : aggregates) map.reserve(records / shards);
    // (events, size unknown) per (node, day, reason).
    std::map<std::tuple<std::string, absl::CivilDay, int>, std::pair<uint64_t, bool>> losses;
    for (const IngestBatch* batch : accepted) {
      for (const IngestRecord& record : batch->records) {
        AggregateMap& map =
            aggregates[shards == 1 ? 0 : JournalShardOf(record.account_id, journal_shards_)];
        map[{record.account_id, record.day, record.ip, record.protocol, record.port, record.action}]
            .Add(record.count, record.first_seen, record.last_seen);
      }
      for (const IngestLoss& loss : batch->losses) {
        auto& merged = losses[{batch->node_id, loss.day, loss.reason}];
        merged.first += loss.events;
        merged.second = merged.second || loss.size_unknown;
      }
    }
    for (size_t shard = 0; shard < shards; ++shard) {
      if (aggregates[shard].empty()) continue;
      if (journal) {
        txn.exec_params(kAppendJournal, static_cast<int>(shard),
                        static_cast<int64_t>(aggregates[shard].size()),
                        pqxx::binarystring(EncodeJournalEntry(aggregates[shard])));
      } else {
        pending_known_ips = WriteAggregates(txn, aggregates[shard]);
      }
    }
    if (!losses.empty()) {
      std::vector<std::string> loss_nodes, loss_days, loss_reasons, loss_events, loss_unknown;
      for (const auto& [key, loss] : losses) {
        loss_nodes.push_back(std::get<0>(key));
        loss_days.push_back(DayText(std::get<1>(key)));
        loss_reasons.push_back(std::to_string(std::get<2>(key)));
        loss_events.push_back(std::to_string(loss.first));
        loss_unknown.push_back(loss.second ? "t" : "f");
      }
      txn.exec_params(kUpsertLosses, PgArrayLiteral(loss_nodes), PgArrayLiteral(loss_days),
                      PgArrayLiteral(loss_reasons), PgArrayLiteral(loss_events),
                      PgArrayLiteral(loss_unknown));
    }
    std::vector<std::string> advanced_nodes, advanced_seqs;
    for (const std::string& node : nodes) {
      advanced_nodes.push_back(node);
      advanced_seqs.push_back(std::to_string(last_seq[node]));
    }
    txn.exec_params(kAdvanceSequences, PgArrayLiteral(advanced_nodes),
                    PgArrayLiteral(advanced_seqs));
    return absl::OkStatus();
  }));
  RememberKnownIps(pending_known_ips);
  return results;
}

std::vector<IpAddress> PgCollectorStore::WriteAggregates(pqxx::work& txn,
                                                         const AggregateMap& aggregates) {
  // Written sorted by the primary key, so concurrent writers lock rows in
  // the same order (no deadlocks).
  std::vector<const AggregateMap::value_type*> sorted;
  sorted.reserve(aggregates.size());
  for (const auto& entry : aggregates) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  DayTotals totals;
  // One statement per month (partition), months in order.
  std::map<absl::CivilMonth, MonthColumns> months;
  std::vector<IpAddress> seen;
  seen.reserve(sorted.size());
  for (const auto* entry : sorted) {
    const AggregateKey& key = entry->first;
    months[absl::CivilMonth(key.day)].AddAggregate(key, entry->second);
    auto& total = totals[{key.account, key.day}];
    (key.action == Action::kAccept ? total.first : total.second) += entry->second.count;
    seen.push_back(key.ip);
  }
  for (const auto& total : totals) months[absl::CivilMonth(total.first.second)].AddTotal(total);
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  std::vector<std::string> new_ips;
  {
    absl::MutexLock lock(&known_ips_mutex_);
    for (const IpAddress& ip : seen) {
      if (!known_ips_.contains(ip)) new_ips.push_back(ip.ToString());
    }
  }
  for (auto& [month, columns] : months) columns.Upsert(txn, month);
  if (!new_ips.empty()) txn.exec_params(kQueueNewIps, PgArrayLiteral(new_ips));
  return seen;
}

absl::StatusOr<JournalFold> PgCollectorStore::FoldJournal(int shard, size_t max_records) {
  if (shard < 0 || shard >= journal_shards_) {
    return absl::InvalidArgumentError(absl::StrCat("FoldJournal: no shard ", shard));
  }
  JournalFold fold;
  std::vector<IpAddress> pending_known_ips;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    fold = JournalFold{};
    pending_known_ips.clear();
    if (!txn.exec_params1(kTryFoldLock, shard)[0].as<bool>()) {
      fold.busy = true;
      return absl::OkStatus();
    }
    // The oldest entries, up to `max_records` records (at least one entry).
    std::vector<std::string> ids;
    size_t records = 0;
    // The last shard takes higher ones too (see the constructor).
    const int last = shard == journal_shards_ - 1 ? std::numeric_limits<int16_t>::max() : shard;
    for (const pqxx::row& row :
         txn.exec_params(kSelectJournalEntries, shard, kFoldEntriesAtMost, last)) {
      const size_t entry_records = row[1].as<size_t>();
      if (!ids.empty() && records + entry_records > max_records) {
        fold.more = true;
        break;
      }
      ids.push_back(row[0].c_str());
      records += entry_records;
    }
    if (ids.size() == kFoldEntriesAtMost) fold.more = true;
    if (ids.empty()) return absl::OkStatus();
    // Deleted and merged in this transaction: an entry is folded exactly
    // once, also if another folder took the lock after us (it cannot see
    // these rows until we commit, and then they are gone).
    std::deque<internal::JournalEntry> entries;
    AggregateMap aggregates;
    aggregates.reserve(records);
    for (const pqxx::row& row : txn.exec_params(kDeleteJournalEntries, PgArrayLiteral(ids))) {
      const pqxx::binarystring payload(row[0]);
      EGRESS_RETURN_IF_ERROR(DecodeJournalEntry(
          absl::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()),
          &entries.emplace_back(), &aggregates));
      fold.records += row[1].as<uint64_t>();
      ++fold.entries;
    }
    fold.rows = aggregates.size();
    if (!aggregates.empty()) pending_known_ips = WriteAggregates(txn, aggregates);
    return absl::OkStatus();
  }));
  RememberKnownIps(pending_known_ips);
  return fold;
}

absl::StatusOr<JournalBacklog> PgCollectorStore::ReadJournalBacklog() {
  JournalBacklog backlog;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    const pqxx::row row = txn.exec1(kJournalBacklog);
    backlog.entries = row[0].as<uint64_t>();
    backlog.records = row[1].as<uint64_t>();
    backlog.oldest_age = absl::Microseconds(row[2].as<int64_t>());
    return absl::OkStatus();
  }));
  return backlog;
}

void PgCollectorStore::RememberKnownIps(const std::vector<IpAddress>& ips) {
  if (ips.empty()) return;
  absl::MutexLock lock(&known_ips_mutex_);
  // Bounded: past the cap start over (the database still deduplicates).
  if (known_ips_.size() + ips.size() > kMaxKnownIps) known_ips_.clear();
  known_ips_.insert(ips.begin(), ips.end());
}

absl::Status PgCollectorStore::RecordAgentStats(const std::string& node_id,
                                                const AgentStatsRecord& stats) {
  // Counters are bigint; an agent cannot count past 2^63 in practice.
  auto clamp = [](uint64_t v) {
    return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
  };
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(kUpsertAgentStats, node_id, stats.agent_version, clamp(stats.conntrack_events),
                    clamp(stats.reject_events), clamp(stats.unattributed_events),
                    clamp(stats.netlink_overruns), clamp(stats.resyncs), clamp(stats.records),
                    clamp(stats.batches_sent), clamp(stats.batches_acked), clamp(stats.spool_bytes),
                    clamp(stats.spool_dropped_batches), clamp(stats.applied_rule_version),
                    clamp(stats.nft_errors), stats.conntrack_events_sysctl);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::pair<int, int>> PgCollectorStore::MaintainPartitions(
    absl::CivilDay from, absl::CivilDay to, absl::CivilDay drop_before) {
  std::pair<int, int> result;
  const absl::CivilMonth first(from);
  const absl::CivilMonth last(to);
  const int months = static_cast<int>(last - first) + 1;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    result.first =
        txn.exec_params1(kEnsurePartitions, DayText(absl::CivilDay(first)), months)[0].as<int>();
    result.second = txn.exec_params1(kDropPartitions, DayText(drop_before))[0].as<int>();
    return absl::OkStatus();
  }));
  return result;
}

}  // namespace egress
