#include "service/server.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "service/unparsable_request_interceptor.h"

namespace egress {
namespace {

// Idle threads the synchronous services keep (see BuildAndStart below).
constexpr int kIdleRequestThreads = 32;

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view flag) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  }
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return text;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca-file needs --tls-cert-file and --tls-key-file");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert-file and --tls-key-file go together");
  }
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> cert = ReadPem(options.tls_cert_file, "--tls-cert-file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(options.tls_key_file, "--tls-key-file");
  if (!key.ok()) return key.status();
  pair.cert_chain = *cert;
  pair.private_key = *key;
  ssl.pem_key_cert_pairs.push_back(pair);
  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(options.tls_client_ca_file, "--tls-client-ca-file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EgressServer>> EgressServer::Start(const ServerOptions& options,
                                                                  const ServerDependencies& deps) {
  if (deps.database == nullptr || deps.token_signer == nullptr) {
    return absl::InvalidArgumentError("server: database and token signer are required");
  }
  const std::string& address = options.listen_address;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: \"", address, "\" is not host:port (e.g. 127.0.0.1:50051)"));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<EgressServer> server(new EgressServer());
  EgressServer& s = *server;
  s.host_ = address.substr(0, colon);
  s.metrics_ = std::make_unique<ServiceMetrics>();
  const Clock* clock = deps.clock != nullptr ? deps.clock : RealClock::Get();
  s.authorizer_ = std::make_unique<Authorizer>(deps.token_signer, clock);
  s.accounts_store_ = std::make_unique<PgAccountsStore>(deps.database);
  s.collector_store_ = std::make_unique<PgCollectorStore>(deps.database, options.ingest_mode,
                                                          options.ingest_journal_shards);
  s.connections_store_ = std::make_unique<PgConnectionsStore>(deps.database);
  s.rules_store_ = std::make_unique<PgRulesStore>(deps.database);
  s.pool_ = std::make_unique<ThreadPool>(options.ingest_threads);
  s.connections_service_ =
      std::make_unique<ConnectionsServiceImpl>(s.connections_store_.get(), s.rules_store_.get(),
                                               s.authorizer_.get(), options.time_zone, clock);
  s.antivirus_service_ =
      std::make_unique<AntivirusServiceImpl>(s.rules_store_.get(), s.authorizer_.get(), clock);
  s.abuse_store_ = std::make_unique<PgAbuseStore>(deps.database);
  AbuseWebhookOptions webhook_options;
  if (!options.abuse_webhook_secret_file.empty()) {
    absl::StatusOr<std::string> secret = ReadWholeFile(options.abuse_webhook_secret_file);
    if (!secret.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--abuse-webhook-secret-file: ", secret.status().message()));
    }
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) {
      secret->pop_back();
    }
    if (secret->empty()) {
      return absl::InvalidArgumentError("--abuse-webhook-secret-file: the file is empty");
    }
    webhook_options.secret = *std::move(secret);
  }
  webhook_options.first_backoff = options.abuse_webhook_first_backoff;
  s.abuse_webhook_ = std::make_unique<AbuseWebhook>(std::move(webhook_options));
  AbuseMonitorOptions monitor_options;
  monitor_options.clock = clock;
  monitor_options.sweep_interval = options.abuse_sweep_interval;
  s.abuse_monitor_ =
      std::make_unique<AbuseMonitor>(s.abuse_store_.get(), s.rules_store_.get(), s.metrics_.get(),
                                     s.abuse_webhook_.get(), monitor_options);
  AbuseMonitor* monitor = s.abuse_monitor_.get();
  s.abuse_service_ = std::make_unique<AbuseServiceImpl>(
      s.abuse_store_.get(), s.rules_store_.get(), s.authorizer_.get(), options.time_zone, clock,
      [monitor] { monitor->ReloadPolicies(); });
  s.accounts_service_ = std::make_unique<AccountsServiceImpl>(s.accounts_store_.get(),
                                                              s.authorizer_.get(), deps.enrichment);
  if (options.ingest_mode == IngestMode::kJournal) {
    IngestJournalFolderOptions folder_options;
    folder_options.interval = options.ingest_fold_interval;
    folder_options.max_backlog_records = options.ingest_journal_max_backlog;
    if (deps.enrichment != nullptr) {
      Enrichment* enrichment = deps.enrichment;
      folder_options.on_folded = [enrichment] { enrichment->worker().Wake(); };
    }
    PgCollectorStore* store = s.collector_store_.get();
    folder_options.on_full = [store](bool full) { store->SetJournalBypass(full); };
    s.folder_ = std::make_unique<IngestJournalFolder>(store, folder_options);
  }
  CollectorOptions collector_options;
  collector_options.time_zone = options.time_zone;
  collector_options.clock = clock;
  collector_options.retention_days = options.retention_days;
  collector_options.committer.max_writers = options.ingest_writers;
  collector_options.committer.max_group_records = options.ingest_group_records;
  ServiceMetrics* metrics = s.metrics_.get();
  collector_options.on_ack = [metrics](absl::Duration latency) {
    metrics->ObserveAckLatency(latency);
  };
  collector_options.on_end_unacked = [metrics](absl::StatusCode code, size_t batches) {
    metrics->CountUnackedBatches(code, batches);
  };
  if (deps.enrichment != nullptr && options.ingest_mode == IngestMode::kDirect) {
    Enrichment* enrichment = deps.enrichment;
    collector_options.on_new_destinations = [enrichment] { enrichment->worker().Wake(); };
  }
  collector_options.on_committed_records = [monitor](const std::string& node_id,
                                                     const std::vector<AbuseObservation>& records) {
    monitor->OnBatch(node_id, records);
  };
  s.collector_service_ = std::make_unique<CollectorServiceImpl>(
      s.collector_store_.get(), s.authorizer_.get(), s.pool_.get(), collector_options);

  // Partitions must exist before the first batch arrives.
  s.partitions_ = std::make_unique<PartitionMaintainer>(s.collector_store_.get(), options.time_zone,
                                                        options.retention_days, clock);
  absl::Status partitions = s.partitions_->RunOnce();
  if (!partitions.ok()) return partitions;
  s.partitions_->Start();
  if (s.folder_ != nullptr) s.folder_->Start();
  s.abuse_monitor_->Start();
  s.rule_expiry_sweeper_ = std::make_unique<RuleExpirySweeper>(s.rules_store_.get(), clock,
                                                               options.rule_expiry_interval);
  s.rule_expiry_sweeper_->Start();

  CollectorServiceImpl* collector = s.collector_service_.get();
  s.listener_ = std::make_unique<RuleChangeListener>(
      deps.database->options().conninfo,
      [collector](const std::string& node_id) { collector->NodeRulesChanged(node_id); },
      [collector] { collector->AllRulesChanged(); }, options.rule_recheck_interval);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // grpc++ binds with SO_REUSEPORT by default: a second, stale server would
  // silently share the port and answer half of the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The synchronous services' threads: gRPC keeps at most MAX_POLLERS idle
  // ones (default 2) and starts a new thread for a call when none is idle,
  // so under many concurrent calls every call paid a thread's creation and
  // teardown (clone, stack munmap, TLB shootdowns across cores; ~4 % of all
  // CPU in bench/rule_push_bench at 16 clients). Keeping that many idle
  // threads costs a few stacks.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              kIdleRequestThreads);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewUnparsableRequestInterceptorFactory());
  interceptors.push_back(s.metrics_->NewRpcInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.AddListeningPort(address, *credentials, &s.port_);
  std::vector<int> extra_ports(options.also_listen.size(), 0);
  for (size_t i = 0; i < options.also_listen.size(); ++i) {
    builder.AddListeningPort(options.also_listen[i], *credentials, &extra_ports[i]);
  }
  builder.RegisterService(s.accounts_service_.get());
  builder.RegisterService(s.collector_service_.get());
  builder.RegisterService(s.connections_service_.get());
  builder.RegisterService(s.antivirus_service_.get());
  builder.RegisterService(s.abuse_service_.get());
  s.server_ = builder.BuildAndStart();
  if (s.server_ == nullptr || s.port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("listen: cannot bind ", address, " (address in use or not local?)"));
  }
  for (size_t i = 0; i < extra_ports.size(); ++i) {
    if (extra_ports[i] == 0) {
      return absl::UnavailableError(
          absl::StrCat("also-listen: cannot bind ", options.also_listen[i]));
    }
  }
  s.ops_store_ = std::make_unique<PgOpsStore>(deps.database);
  ServiceMetricsSources sources;
  sources.collector = s.collector_service_.get();
  sources.database = deps.database;
  sources.enrichment = deps.enrichment;
  sources.ops = s.ops_store_.get();
  if (s.folder_ != nullptr) {
    sources.journal_folder = s.folder_.get();
    sources.journal = s.collector_store_.get();
  }
  s.metrics_->AddSources(sources);
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsExposer>> http =
        MetricsExposer::Start(options.metrics_listen, s.metrics_->collectables());
    if (!http.ok()) return http.status();
    s.metrics_http_ = *std::move(http);
    LogInfo("metrics_listening", {{"address", s.metrics_http_->address()}});
  }
  s.server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

EgressServer::~EgressServer() { Shutdown(absl::Now()); }

std::string EgressServer::address() const { return absl::StrCat(host_, ":", port_); }

bool EgressServer::listening_for_rule_changes() const {
  return listener_ != nullptr && listener_->listening();
}

void EgressServer::Shutdown(absl::Time deadline) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  collector_service_->CloseAllStreams();
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
  listener_.reset();
  abuse_monitor_->Stop();
  rule_expiry_sweeper_->Stop();
  // Nothing acknowledged is lost either way (the journal is durable); a
  // clean stop just leaves the panel complete while no replica runs.
  if (folder_ != nullptr) folder_->Stop(absl::Now() + absl::Seconds(10));
}

}  // namespace egress
