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
//  * one scrape-time collectable that reads what components already count
//    (CollectorServiceImpl::stats(), whose counters are declared once in
//    EGRESS_COLLECTOR_COUNTERS; the enrichment worker; the database pool)
//    plus one cached aggregate query (nodes with rules pending).
// The library (prometheus-cpp) keeps the first two kinds and renders all.
#ifndef EGRESS_SERVICE_SERVICE_METRICS_H_
#define EGRESS_SERVICE_SERVICE_METRICS_H_

#include <memory>
#include <string>
#include <vector>

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

  // Sets what the scrape-time collectable reads. Call once, before the
  // first scrape.
  void AddSources(const ServiceMetricsSources& sources);

  // What /metrics serves (for MetricsExposer::Start).
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables() const;
  // The text exposition format 0.0.4 of the same (tests, benchmarks).
  std::string Render() const;

 private:
  void Collect(MetricFamilies& families);
  void CollectDatabase(const ServiceMetricsSources& sources, MetricFamilies& w);

  const std::shared_ptr<prometheus::Registry> registry_;
  const std::unique_ptr<LabelledFamily<prometheus::Counter>> rpc_requests_;
  const std::unique_ptr<LabelledFamily<prometheus::Histogram>> rpc_duration_;
  prometheus::Histogram& ack_latency_;
  const std::unique_ptr<LabelledFamily<prometheus::Counter>> batches_unacked_;
  const std::unique_ptr<LabelledFamily<prometheus::Counter>> abuse_incidents_;
  const std::unique_ptr<LabelledFamily<prometheus::Counter>> abuse_webhooks_;
  const std::shared_ptr<ScrapeCollectable> scrape_;

  absl::Mutex sources_mutex_;
  ServiceMetricsSources sources_ ABSL_GUARDED_BY(sources_mutex_);

  absl::Mutex cache_mutex_;
  absl::Time cache_time_ ABSL_GUARDED_BY(cache_mutex_) = absl::InfinitePast();
  absl::StatusOr<NodeRuleVersions> cached_versions_ ABSL_GUARDED_BY(cache_mutex_);
  absl::StatusOr<JournalBacklog> cached_backlog_ ABSL_GUARDED_BY(cache_mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_SERVICE_METRICS_H_
