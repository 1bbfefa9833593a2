#include "service/service_metrics.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "egress/v1/collector.pb.h"
#include "google/protobuf/descriptor.h"

namespace egress {
namespace {

using Interceptor = grpc::experimental::Interceptor;
using Hook = grpc::experimental::InterceptionHookPoints;

// Batches remembered per stream while their ack is outstanding; the agent's
// window is far smaller, so this only bounds a misbehaving client.
constexpr size_t kMaxTrackedBatches = 4096;

// "/pkg.Service/Method" → "pkg.Service/Method" when the method is compiled
// into this binary, else "unknown": the label cannot be grown by callers
// inventing method names.
std::string MethodLabel(const char* path) {
  absl::string_view method(path == nullptr ? "" : path);
  if (!absl::ConsumePrefix(&method, "/")) return "unknown";
  const size_t slash = method.find('/');
  if (slash == absl::string_view::npos) return "unknown";
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(method.substr(0, slash)));
  if (service == nullptr ||
      service->FindMethodByName(std::string(method.substr(slash + 1))) == nullptr) {
    return "unknown";
  }
  return std::string(method);
}

std::string CodeLabel(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class RpcMetricsInterceptor final : public Interceptor {
 public:
  RpcMetricsInterceptor(grpc::experimental::ServerRpcInfo* info,
                        LabelledFamily<prometheus::Counter>* requests,
                        LabelledFamily<prometheus::Histogram>* duration)
      : method_(MethodLabel(info->method())),
        unary_(info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY),
        requests_(*requests),
        duration_(*duration) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const std::string code = CodeLabel(status.error_code());
      requests_.WithLabels({method_, code}).Increment();
      if (unary_) {
        duration_.WithLabels({method_, code})
            .Observe(absl::ToDoubleSeconds(absl::Now() - started_));
      }
    }
    methods->Proceed();
  }

 private:
  const absl::Time started_ = absl::Now();
  const std::string method_;
  const bool unary_;
  LabelledFamily<prometheus::Counter>& requests_;
  LabelledFamily<prometheus::Histogram>& duration_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsFactory(LabelledFamily<prometheus::Counter>* requests,
                    LabelledFamily<prometheus::Histogram>* duration)
      : requests_(requests), duration_(duration) {}

  Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info, requests_, duration_);
  }

 private:
  LabelledFamily<prometheus::Counter>* requests_;
  LabelledFamily<prometheus::Histogram>* duration_;
};

#define EGRESS_COLLECTOR_FIELD(field, ...) \
  {{MetricKind::kCounter, __VA_ARGS__}, &CollectorStats::field},
constexpr MetricField<CollectorStats> kCollectorMetrics[] = {
    EGRESS_COLLECTOR_COUNTERS(EGRESS_COLLECTOR_FIELD)};
#undef EGRESS_COLLECTOR_FIELD

}  // namespace

ServiceMetrics::ServiceMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_requests_(AddCounterFamily(
          *registry_, "egress_rpc_requests_total",
          "Finished gRPC calls (streams included) by method and status code.", {"method", "code"})),
      rpc_duration_(AddHistogramFamily(
          *registry_, "egress_rpc_duration_seconds",
          "Latency of unary gRPC calls, from arrival to status, by method and status code.",
          {"method", "code"}, LatencyBuckets())),
      ack_latency_(AddHistogram(
          *registry_, "egress_ingest_ack_latency_seconds",
          "From an agent batch received to its ack sent (validation, queueing and commit).",
          LatencyBuckets())),
      batches_unacked_(AddCounterFamily(
          *registry_, "egress_ingest_batches_unacked_total",
          "Batches received on an agent stream that ended before their ack, by the stream's "
          "final code (INVALID_ARGUMENT: refused; others: the agent resends them).",
          {"code"})),
      abuse_incidents_(AddCounterFamily(
          *registry_, "egress_abuse_incidents_total",
          "Outbound abuse incidents opened by the detector, by kind and the lock they set.",
          {"kind", "lock"})),
      abuse_webhooks_(AddCounterFamily(
          *registry_, "egress_abuse_webhooks_total",
          "Abuse incident webhooks that ended: delivered (2xx) or failed (given up after "
          "retries, or refused with 4xx).",
          {"result"})),
      scrape_(std::make_shared<ScrapeCollectable>(
          [this](MetricFamilies& families) { Collect(families); })),
      cached_versions_(absl::UnavailableError("not read yet")) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServiceMetrics::NewRpcInterceptorFactory() {
  return std::make_unique<RpcMetricsFactory>(rpc_requests_.get(), rpc_duration_.get());
}

void ServiceMetrics::ObserveAckLatency(absl::Duration latency) {
  ack_latency_.Observe(absl::ToDoubleSeconds(latency));
}

void ServiceMetrics::CountUnackedBatches(absl::StatusCode code, size_t batches) {
  if (batches > 0) {
    batches_unacked_->WithLabels({absl::StatusCodeToString(code)})
        .Increment(static_cast<double>(batches));
  }
}

void ServiceMetrics::CountAbuseIncident(absl::string_view kind, absl::string_view lock) {
  abuse_incidents_->WithLabels({kind, lock}).Increment();
}

void ServiceMetrics::CountAbuseWebhook(bool delivered) {
  abuse_webhooks_->WithLabels({delivered ? "delivered" : "failed"}).Increment();
}

std::vector<std::weak_ptr<prometheus::Collectable>> ServiceMetrics::collectables() const {
  return {registry_, scrape_};
}

std::string ServiceMetrics::Render() const { return RenderMetrics({registry_, scrape_}); }

void ServiceMetrics::AddSources(const ServiceMetricsSources& sources) {
  absl::MutexLock lock(&sources_mutex_);
  sources_ = sources;
}

void ServiceMetrics::Collect(MetricFamilies& w) {
  ServiceMetricsSources sources;
  {
    absl::MutexLock lock(&sources_mutex_);
    sources = sources_;
  }
  if (sources.collector != nullptr) {
    const CollectorStats s = sources.collector->stats();
    w.AddAll(kCollectorMetrics, s);
    w.Counter("egress_ingest_acks_total", "Acks sent to agents (committed + duplicate).", {},
              static_cast<double>(s.batches_committed + s.batches_duplicate));
    w.Gauge("egress_agent_streams", "Agent streams connected to this replica now.", {},
            sources.collector->open_streams());
  }
  if (sources.journal_folder != nullptr) {
    const IngestJournalFolderStats f = sources.journal_folder->stats();
    w.Counter("egress_ingest_journal_folds_total",
              "Folds of the ingest journal into the daily counts by this replica (that folded "
              "at least one entry).",
              {}, static_cast<double>(f.folds));
    w.Counter("egress_ingest_journal_records_folded_total",
              "Journaled records (merged per group commit) folded by this replica.", {},
              static_cast<double>(f.records));
    w.Counter("egress_ingest_journal_rows_written_total",
              "Daily-count rows the folds wrote (records merged by key across entries).", {},
              static_cast<double>(f.rows));
    w.Counter("egress_ingest_journal_fold_failures_total",
              "Folds that failed (database down, ...): their entries stay and are retried.", {},
              static_cast<double>(f.failures));
    w.Gauge("egress_ingest_journal_last_fold_seconds", "Duration of the last fold.", {},
            absl::ToDoubleSeconds(f.last_fold_duration));
    w.Gauge("egress_ingest_journal_full",
            "1 while more than --ingest-journal-max-backlog records wait: group commits then "
            "write the daily counts directly (slower acknowledgements).",
            {}, f.full ? 1 : 0);
    w.Counter("egress_ingest_journal_full_total",
              "Times the journal's backlog went over --ingest-journal-max-backlog.", {},
              static_cast<double>(f.times_full));
  }
  if (sources.database != nullptr) {
    const Database::PoolStats pool = sources.database->pool_stats();
    w.Gauge("egress_db_pool_connections", "PostgreSQL connections of this replica, by state.",
            {{"state", "in_use"}}, pool.in_use);
    w.Gauge("egress_db_pool_connections", "", {{"state", "idle"}}, pool.open - pool.in_use);
    w.Gauge("egress_db_pool_max_connections", "--db-pool-size.", {}, pool.max);
    const Database::RetryStats retries = sources.database->retry_stats();
    w.Counter("egress_db_conflicts_retried_total",
              "Transactions run again after a serialization failure or deadlock (the lock "
              "order leaves none expected).",
              {}, static_cast<double>(retries.conflicts_retried));
    w.Counter("egress_db_conflicts_exhausted_total",
              "Transactions that still conflicted after every retry (answered ABORTED).", {},
              static_cast<double>(retries.conflicts_exhausted));
    w.Counter("egress_db_broken_connections_retried_total",
              "Transactions run again on a fresh connection after finding theirs broken.", {},
              static_cast<double>(retries.broken_connections_retried));
    w.Counter("egress_db_commits_in_doubt_total",
              "Commits whose connection broke before the answer (e.g. the primary died): "
              "not acknowledged; a resend of the same batch is recognised.",
              {}, static_cast<double>(retries.commits_in_doubt));
    w.Counter("egress_db_idle_connections_dropped_total",
              "Idle pooled connections closed because one to the same server broke or "
              "turned read-only (a restart or failover).",
              {}, static_cast<double>(retries.idle_dropped));
  }
  if (sources.enrichment != nullptr) {
    const EnrichmentStats e = sources.enrichment->worker().stats();
    const char* help = "Finished PTR/owner lookups, by result.";
    w.Counter("egress_enrichment_lookups_total", help, {{"result", "ptr_found"}},
              static_cast<double>(e.ptr_found));
    w.Counter("egress_enrichment_lookups_total", help, {{"result", "no_ptr"}},
              static_cast<double>(e.no_ptr));
    w.Counter("egress_enrichment_lookups_total", help, {{"result", "temporary_failure"}},
              static_cast<double>(e.temporary_failures));
    w.Counter("egress_enrichment_owner_found_total", "Lookups that found the IP's owner.", {},
              static_cast<double>(e.owner_found));
    w.Counter("egress_enrichment_errors_total", "Enrichment database errors, by step.",
              {{"step", "claim"}}, static_cast<double>(e.claim_errors));
    w.Counter("egress_enrichment_errors_total", "", {{"step", "save"}},
              static_cast<double>(e.save_errors));
    w.Counter("egress_enrichment_errors_total", "", {{"step", "owner_reload"}},
              static_cast<double>(e.owner_reload_errors));
    w.Gauge("egress_enrichment_in_flight", "PTR lookups in flight on this replica.", {},
            static_cast<double>(e.in_flight));
    if (e.backlog >= 0) {
      w.Gauge("egress_enrichment_backlog",
              "Destination IPs due for a lookup (new, expired or with a lapsed claim), as the "
              "worker last counted them (every few seconds).",
              {}, static_cast<double>(e.backlog));
    }
    if (e.pending >= 0) {
      w.Gauge("egress_enrichment_pending", "Destination IPs never looked up yet.", {},
              static_cast<double>(e.pending));
    }
  }
  if (sources.ops != nullptr) CollectDatabase(sources, w);
}

void ServiceMetrics::CollectDatabase(const ServiceMetricsSources& sources, MetricFamilies& w) {
  absl::MutexLock lock(&cache_mutex_);
  const absl::Time now = absl::Now();
  if (now - cache_time_ >= kDatabaseRefresh) {
    cached_versions_ = sources.ops->LoadNodeRuleVersions();
    if (sources.journal != nullptr) cached_backlog_ = sources.journal->ReadJournalBacklog();
    cache_time_ = now;
  }
  if (sources.journal != nullptr && cached_backlog_.ok()) {
    w.Gauge("egress_ingest_journal_backlog_records",
            "Acknowledged records waiting in the ingest journal to be folded into the daily "
            "counts (re-read every 5 s at most).",
            {}, static_cast<double>(cached_backlog_->records));
    w.Gauge("egress_ingest_journal_oldest_seconds",
            "Age of the oldest journal entry not yet folded: how far the panel lags ingest.", {},
            absl::ToDoubleSeconds(cached_backlog_->oldest_age));
  }
  w.Gauge("egress_database_up",
          "1 if the last metrics query reached PostgreSQL (re-read every 5 s at most).", {},
          cached_versions_.ok() ? 1 : 0);
  if (!cached_versions_.ok()) return;
  w.Gauge("egress_nodes", "Registered nodes.", {}, static_cast<double>(cached_versions_->nodes));
  w.Gauge("egress_nodes_rule_version_pending",
          "Nodes whose agent has not yet applied their current rule version.", {},
          static_cast<double>(cached_versions_->pending));
  w.Gauge("egress_nodes_rule_apply_errors",
          "Nodes whose agent reported an error applying its rule set.", {},
          static_cast<double>(cached_versions_->apply_errors));
}

}  // namespace egress
