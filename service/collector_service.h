// egress.v1.CollectorService: one bidirectional stream per node agent.
//
// Up: Hello, RecordBatch, RulesApplied, AgentStats. Down: Welcome, Ack,
// RuleSet. A batch is acknowledged only after its transaction (aggregates +
// the node's sequence) committed, so an agent that resends unacknowledged
// batches after any failure neither loses nor doubles counts. Batches are
// committed in groups (IngestCommitter): those waiting from every stream are
// merged into one transaction; acks go out in each stream's order.
//
// Threading: gRPC's callback threads never block. Each message is handled on
// the ThreadPool; a stream handles its messages one at a time (the next read
// starts when the previous message is done; a batch is done once queued for
// commit, up to max_batches_in_flight), and its writes go out one at a time
// from a small queue.
#ifndef EGRESS_SERVICE_COLLECTOR_SERVICE_H_
#define EGRESS_SERVICE_COLLECTOR_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metric_spec.h"
#include "egress/v1/collector.grpc.pb.h"
#include "service/abuse_detector.h"
#include "service/auth/authorizer.h"
#include "service/ingest_committer.h"
#include "service/storage/collector_store.h"
#include "service/thread_pool.h"

namespace egress {

struct CollectorOptions {
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Decides which day is today (records of days after tomorrow are refused)
  // and the Welcome's server time.
  const Clock* clock = RealClock::Get();
  int retention_days = 400;
  int max_records_per_batch = 100000;
  // Batches of one stream handed to the committer and not yet committed, at
  // most; the stream stops reading until one commits.
  int max_batches_in_flight = 16;
  IngestCommitterOptions committer;
  // Called after a batch with records committed (its new destinations wait
  // in ip_info for enrichment); must be cheap.
  std::function<void()> on_new_destinations;
  // Optional, cheap: the records of a batch just committed (not of a
  // duplicate), for the abuse detector.
  std::function<void(const std::string& node_id, const std::vector<AbuseObservation>& records)>
      on_committed_records;
  // Optional, cheap: a batch's time from received to its ack queued; and,
  // when a stream ends, how many batches it received but never acked, with
  // the stream's final code (INVALID_ARGUMENT: refused; others: the agent
  // sends them again).
  std::function<void(absl::Duration)> on_ack;
  std::function<void(absl::StatusCode, size_t)> on_end_unacked;
};

// Every counter of the collector, declared once: the list yields the
// atomics the streams increment, CollectorStats, the copy between them and
// the exported series (service_metrics.cc). Entries are
// COUNTER(field, "metric name", "label", "label value", "help"); series of
// one name after the first leave the help empty.
#define EGRESS_COLLECTOR_COUNTERS(COUNTER)                                                         \
  COUNTER(streams_opened, "egress_agent_streams_opened_total", "", "",                             \
          "Agent streams that completed Hello.")                                                   \
  COUNTER(batches_committed, "egress_ingest_batches_total", "result", "committed",                 \
          "Agent batches acknowledged, by result (committed, or duplicate of one already "         \
          "committed: acknowledged again, nothing changed).")                                      \
  COUNTER(batches_duplicate, "egress_ingest_batches_total", "result", "duplicate", "")             \
  COUNTER(records_committed, "egress_ingest_records_total", "", "",                                \
          "Connection records committed from agent batches (duplicates not counted).")             \
  COUNTER(records_rejected, "egress_ingest_records_refused_total", "reason", "invalid",            \
          "Records of committed batches left out, by reason.")                                     \
  COUNTER(records_unknown_uid, "egress_ingest_records_refused_total", "reason", "unknown_uid", "") \
  COUNTER(sequence_gaps, "egress_ingest_sequence_gaps_total", "", "",                              \
          "Batches whose sequence skipped numbers (batches an agent lost and reported).")          \
  COUNTER(rule_sets_pushed, "egress_rule_sets_pushed_total", "", "",                               \
          "Rule sets pushed to agents on change.")

// Counters since start, for stats and tests.
struct CollectorStats {
  EGRESS_COLLECTOR_COUNTERS(EGRESS_METRIC_U64)
  // Group commits (each holds one or more batches; see IngestCommitter).
  IngestCommitterStats commits;
};

class CollectorStream;

// Thread-safe; the store, authorizer and pool must outlive it.
class CollectorServiceImpl final
    : public egress::v1::CollectorService::WithRawCallbackMethod_Connect<
          egress::v1::CollectorService::Service> {
 public:
  CollectorServiceImpl(CollectorStore* store, const Authorizer* authorizer, ThreadPool* pool,
                       CollectorOptions options);
  ~CollectorServiceImpl() override;

  // Raw (serialized) messages: see CollectorStream.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Connect(
      grpc::CallbackServerContext* context) override;

  // The node's rule set changed: every stream of that node held by this
  // replica sends the new one (if newer than what it sent).
  void NodeRulesChanged(const std::string& node_id);
  // Notifications may have been missed (listener reconnected): re-check all.
  void AllRulesChanged();

  // Ends every stream with UNAVAILABLE so agents reconnect (to another
  // replica) at once instead of waiting out the shutdown grace. A batch in
  // flight is either acknowledged before the end or resent by its agent.
  void CloseAllStreams();

  CollectorStats stats() const;
  int open_streams() const;

 private:
  friend class CollectorStream;
  void Register(const std::string& node_id, const std::shared_ptr<CollectorStream>& stream);
  void Unregister(const std::string& node_id, const CollectorStream* stream);
  // Every stream this replica holds that is still alive; taken under the
  // lock, used outside it (pushing or closing may re-enter Unregister).
  std::vector<std::shared_ptr<CollectorStream>> LiveStreams();

  CollectorStore& store_;
  const Authorizer& authorizer_;
  ThreadPool& pool_;
  const CollectorOptions options_;
  IngestCommitter committer_;

  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string,
                      absl::flat_hash_map<const CollectorStream*, std::weak_ptr<CollectorStream>>>
      streams_ ABSL_GUARDED_BY(mutex_);

  struct Counters {
    EGRESS_COLLECTOR_COUNTERS(EGRESS_METRIC_ATOMIC)
  };
  Counters counters_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_COLLECTOR_SERVICE_H_
