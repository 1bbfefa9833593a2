// The gRPC server of egress-service: every egress.v1 service, gRPC health
// checking and server reflection, on one listening address, plus the
// background parts they need (rule-change listener, partition upkeep).
#ifndef EGRESS_SERVICE_SERVER_H_
#define EGRESS_SERVICE_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics_exposer.h"
#include "grpcpp/server.h"
#include "service/abuse_monitor.h"
#include "service/abuse_service.h"
#include "service/abuse_webhook.h"
#include "service/accounts_service.h"
#include "service/antivirus_service.h"
#include "service/auth/authorizer.h"
#include "service/collector_service.h"
#include "service/connections_service.h"
#include "service/enrichment/enrichment.h"
#include "service/ingest_journal_folder.h"
#include "service/partition_maintainer.h"
#include "service/rule_expiry_sweeper.h"
#include "service/service_metrics.h"
#include "service/storage/database.h"
#include "service/storage/pg_abuse_store.h"
#include "service/storage/pg_accounts_store.h"
#include "service/storage/pg_collector_store.h"
#include "service/storage/pg_connections_store.h"
#include "service/storage/pg_rules_store.h"
#include "service/storage/rule_change_listener.h"
#include "service/thread_pool.h"

namespace egress {

struct ServerOptions {
  // host:port; port 0 picks a free port (see EgressServer::port()).
  std::string listen_address = "127.0.0.1:50051";
  // More addresses served the same way, e.g. "unix:/run/egress/service.sock"
  // for an agent in another network namespace on the same machine.
  std::vector<std::string> also_listen;
  // Civil days of the daily aggregates; announced to agents.
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Days of aggregates kept; older monthly partitions are dropped.
  int retention_days = 400;
  // Workers for agent-stream database work.
  int ingest_threads = 8;
  // Group commits of agent batches running at once (IngestCommitter).
  int ingest_writers = 2;
  // A group commit stops taking batches past this many records.
  int ingest_group_records = 50000;
  // How acknowledged records reach the aggregates (IngestMode). The default
  // is what the binary ships (--ingest-journal): an in-process caller that
  // reads the aggregates right after an acknowledgement waits for the fold
  // (tests/support/journal_fold.h) or asks for kDirect.
  IngestMode ingest_mode = IngestMode::kJournal;
  // kJournal: how often the journal is folded into the aggregates.
  absl::Duration ingest_fold_interval = absl::Milliseconds(250);
  // kJournal: journaled records beyond which group commits write directly.
  uint64_t ingest_journal_max_backlog = 1000000;
  // kJournal: journal shards (kJournalShards; other values for benchmarks).
  int ingest_journal_shards = kJournalShards;
  // PEM files. With a certificate and key the server speaks TLS only; with a
  // client CA as well it requires client certificates signed by it (mTLS).
  // Tokens are still required on every call either way.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // host:port of the Prometheus /metrics listener (port 0 picks one); empty
  // for none. Metrics are counted either way.
  std::string metrics_listen;
  // A file holding the secret that signs abuse webhooks (HMAC-SHA256); empty:
  // webhooks go unsigned. Trailing newlines are not part of the secret.
  std::string abuse_webhook_secret_file;
  // Webhook retries: the first pause (doubling up to 5 minutes).
  absl::Duration abuse_webhook_first_backoff = absl::Seconds(1);
  // How often expired abuse locks are lifted, quiet incidents closed and
  // policies re-read.
  absl::Duration abuse_sweep_interval = absl::Seconds(2);
  // How often temporary block rules that ran out are deleted.
  absl::Duration rule_expiry_interval = absl::Seconds(1);
  // How often the rule sets of the agents this replica holds are checked
  // for changes whose announcement was lost (a writer that died between its
  // commit and its NOTIFY): the longest such a change can wait.
  absl::Duration rule_recheck_interval = absl::Seconds(5);
};

// What the server is built on; every pointer must outlive the server.
struct ServerDependencies {
  Database* database = nullptr;
  const TokenSigner* token_signer = nullptr;
  // Optional: PTR and owner lookups. Without it, new destinations wait in
  // ip_info as pending and AccountsService.LookupIp is FAILED_PRECONDITION.
  Enrichment* enrichment = nullptr;
  // Where time decides something (today's date, token expiry, expiring
  // rules); null: the real clock. Tests pass a FakeClock.
  const Clock* clock = nullptr;
};

// Owns the stores and service implementations. Start() returns once the port
// is bound and serving.
class EgressServer {
 public:
  // UNAVAILABLE if the address cannot be bound (in use, bad host) or the
  // database is unreachable for the first partition upkeep.
  static absl::StatusOr<std::unique_ptr<EgressServer>> Start(const ServerOptions& options,
                                                             const ServerDependencies& deps);
  ~EgressServer();

  int port() const { return port_; }
  // "host:port" actually bound.
  std::string address() const;

  // Stops accepting calls, marks health NOT_SERVING, lets calls in flight
  // finish until `deadline`, then cancels the rest. Idempotent.
  void Shutdown(absl::Time deadline);

  CollectorServiceImpl& collector() { return *collector_service_; }
  // Null unless ServerOptions::ingest_mode is kJournal.
  IngestJournalFolder* journal_folder() { return folder_.get(); }
  ServiceMetrics& metrics() { return *metrics_; }
  // Port of the /metrics listener; 0 without ServerOptions::metrics_listen.
  int metrics_port() const { return metrics_http_ == nullptr ? 0 : metrics_http_->port(); }
  AbuseMonitor& abuse_monitor() { return *abuse_monitor_; }
  AbuseWebhook& abuse_webhook() { return *abuse_webhook_; }
  // True once this replica receives rule-change notifications.
  bool listening_for_rule_changes() const;

 private:
  EgressServer() = default;

  std::string host_;
  int port_ = 0;
  // Declaration order is teardown order, reversed: the gRPC server stops
  // first (Shutdown), then the listener, the pool, services and stores.
  // The /metrics listener reads them all, so it goes before any of them.
  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<PgAccountsStore> accounts_store_;
  std::unique_ptr<PgCollectorStore> collector_store_;
  // Before the services and the pool: their writers wait on it.
  std::unique_ptr<IngestJournalFolder> folder_;
  std::unique_ptr<PgConnectionsStore> connections_store_;
  std::unique_ptr<PgRulesStore> rules_store_;
  std::unique_ptr<AccountsServiceImpl> accounts_service_;
  std::unique_ptr<ConnectionsServiceImpl> connections_service_;
  std::unique_ptr<AntivirusServiceImpl> antivirus_service_;
  std::unique_ptr<PgAbuseStore> abuse_store_;
  std::unique_ptr<AbuseWebhook> abuse_webhook_;
  // After the stores it uses, before the collector that feeds it.
  std::unique_ptr<AbuseMonitor> abuse_monitor_;
  std::unique_ptr<RuleExpirySweeper> rule_expiry_sweeper_;
  std::unique_ptr<AbuseServiceImpl> abuse_service_;
  std::unique_ptr<CollectorServiceImpl> collector_service_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<PartitionMaintainer> partitions_;
  std::unique_ptr<RuleChangeListener> listener_;
  std::unique_ptr<PgOpsStore> ops_store_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsExposer> metrics_http_;
  bool shut_down_ = false;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_SERVER_H_
