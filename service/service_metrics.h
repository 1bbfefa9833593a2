// Prometheus metrics of egress-service (names and meanings are listed in
// docs/operations.md).
//
// Three kinds of sources:
//  * one gRPC server interceptor counts every finished call by method and
//    status code and times unary calls, so no handler has to remember to;
//  * the collector's streams report ack latency and the batches a stream
//    ended without acknowledging (by the stream's final code) through
//    ObserveAckLatency / CountUnackedBatches (they see the messages; the
//    interceptor sees only serialized ones on that raw method);
//  * collectors that read, at scrape time, what components already count
//    (CollectorServiceImpl::stats(), the enrichment worker, the database
//    pool) plus one cached aggregate query (nodes with rules pending).
#ifndef EGRESS_SERVICE_SERVICE_METRICS_H_
#define EGRESS_SERVICE_SERVICE_METRICS_H_

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "grpcpp/support/server_interceptor.h"
#include "service/collector_service.h"
#include "service/enrichment/enrichment.h"
#include "service/ingest_journal_folder.h"
#include "service/storage/database.h"
#include "service/storage/pg_ops_store.h"

namespace egress {

// What the scrape-time collectors read; every pointer must outlive the
// ServiceMetrics. `enrichment` may be null.
struct ServiceMetricsSources {
  const CollectorServiceImpl* collector = nullptr;
  const Database* database = nullptr;
  Enrichment* enrichment = nullptr;
  PgOpsStore* ops = nullptr;
  // Journal mode only (both null otherwise).
  const IngestJournalFolder* journal_folder = nullptr;
  IngestJournal* journal = nullptr;
};

// Thread-safe.
class ServiceMetrics {
 public:
  // Database figures are re-read at most this often, whatever the scrape rate.
  static constexpr absl::Duration kDatabaseRefresh = absl::Seconds(5);

  ServiceMetrics();

  // A factory for ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcInterceptorFactory();

  // From an agent batch received to its ack sent.
  void ObserveAckLatency(absl::Duration latency);
  // A stream ended with `code` leaving `batches` received but unacknowledged.
  void CountUnackedBatches(absl::StatusCode code, size_t batches);

  // An abuse incident opened (kind: AbuseKindName; lock: "all", "port" or
  // "none").
  void CountAbuseIncident(absl::string_view kind, absl::string_view lock);
  // An incident's webhook POST ended: delivered, or given up.
  void CountAbuseWebhook(bool delivered);

  // Registers the scrape-time collectors. Call once.
  void AddSources(const ServiceMetricsSources& sources);

  // The text exposition format 0.0.4.
  std::string Render() const { return registry_.Render(); }
  MetricsRegistry& registry() { return registry_; }

 private:
  void CollectDatabase(const ServiceMetricsSources& sources, MetricsWriter& writer);

  MetricsRegistry registry_;
  CounterFamily& rpc_requests_;
  HistogramFamily& rpc_duration_;
  Histogram& ack_latency_;
  CounterFamily& batches_unacked_;
  CounterFamily& abuse_incidents_;
  CounterFamily& abuse_webhooks_;

  absl::Mutex cache_mutex_;
  absl::Time cache_time_ ABSL_GUARDED_BY(cache_mutex_) = absl::InfinitePast();
  absl::StatusOr<NodeRuleVersions> cached_versions_ ABSL_GUARDED_BY(cache_mutex_);
  absl::StatusOr<JournalBacklog> cached_backlog_ ABSL_GUARDED_BY(cache_mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_SERVICE_METRICS_H_
