// egress-service: the central gRPC service. See README.md for the picture.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/command_line.h"
#include "common/log.h"
#include "service/auth/token.h"
#include "service/config.h"
#include "service/enrichment/enrichment.h"
#include "service/server.h"
#include "service/storage/database.h"
#include "service/storage/migrations.h"

ABSL_FLAG(std::string, listen, egress::ServiceConfig().listen_address,
          "host:port for gRPC (agents, gateway, other services, egressctl). Port 0 picks a free "
          "port; the chosen address is printed.");
ABSL_FLAG(std::vector<std::string>, also_listen, {},
          "More comma-separated addresses to serve, e.g. unix:/run/egress/service.sock for agents "
          "in other network namespaces of this machine.");
ABSL_FLAG(std::string, database, "",
          "PostgreSQL connection string (libpq key=value or postgresql:// URI). "
          "Default: the EGRESS_DATABASE environment variable.");
ABSL_FLAG(std::string, time_zone, egress::ServiceConfig().time_zone,
          "IANA time zone whose civil days group the daily connection counts, e.g. "
          "Europe/Moscow. Announced to every agent.");
ABSL_FLAG(int, db_pool_size, egress::ServiceConfig().db_pool_size,
          "Maximum PostgreSQL connections this replica opens.");
ABSL_FLAG(absl::Duration, database_wait, egress::ServiceConfig().database_wait,
          "How long to retry an unreachable database at start-up before exiting.");
ABSL_FLAG(absl::Duration, shutdown_grace, egress::ServiceConfig().shutdown_grace,
          "On SIGTERM/SIGINT, how long calls in flight may take to finish.");
ABSL_FLAG(std::string, token_secret_file, "",
          "File with the HS256 secret (>= 32 bytes) that signs panel, service and node tokens "
          "(egressctl token mints them). Default: the EGRESS_TOKEN_SECRET_FILE environment "
          "variable.");
ABSL_FLAG(int, retention_days, egress::ServiceConfig().retention_days,
          "Days of daily connection counts kept; older months are dropped whole.");
ABSL_FLAG(int, ingest_threads, egress::ServiceConfig().ingest_threads,
          "Worker threads for the agents' streams (database work).");
ABSL_FLAG(int, ingest_writers, egress::ServiceConfig().ingest_writers,
          "Group commits of agent batches running at once, each on its own database connection "
          "(batches of all streams waiting are merged into one transaction; more writers overlap "
          "one group's commit flush with the next group's work).");
ABSL_FLAG(int, ingest_group_records, egress::ServiceConfig().ingest_group_records,
          "Records a group commit takes at most (a single larger batch still commits alone): "
          "smaller groups bound each batch's wait for its acknowledgement, larger ones merge "
          "more keys.");
ABSL_FLAG(bool, ingest_journal, egress::ServiceConfig().ingest_journal,
          "Acknowledge an agent batch once its records are appended to the ingest journal (one "
          "row per group commit, same transaction as the node's sequence), and fold the journal "
          "into the daily counts every --ingest-fold-interval: keys that recur are written once "
          "per fold. --noingest-journal merges every group into the daily counts before its "
          "acknowledgement (counts visible at once, fewer records per second).");
ABSL_FLAG(absl::Duration, ingest_fold_interval, egress::ServiceConfig().ingest_fold_interval,
          "With --ingest-journal: how often the journal is folded, i.e. about how long an "
          "acknowledged record takes to show in the panel (10ms..1m).");
ABSL_FLAG(int64_t, ingest_journal_max_backlog, egress::ServiceConfig().ingest_journal_max_backlog,
          "With --ingest-journal: journaled records (merged per group commit) beyond which "
          "group commits write the daily counts directly until the folds catch up, so "
          "acknowledgements slow down to the database's pace and the panel stops falling "
          "further behind (agents keep the rest in their spools).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain: serve TLS only (with --tls-key-file). Default: plaintext, for "
          "loopback or a TLS-terminating proxy.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls-cert-file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA: require client certificates signed by it (mTLS for node agents).");
ABSL_FLAG(std::string, owner_database, "libloc",
          "Owner data (organisation, ASN, country) for destination IPs: libloc (the IPFire "
          "location database, Debian libloc-database), maxmind (an ASN .mmdb) or none.");
ABSL_FLAG(std::string, owner_database_path, "",
          "File of --owner-database (default: libloc's system database). Reloaded on SIGHUP and "
          "when the file changes.");
ABSL_FLAG(std::vector<std::string>, dns_resolvers, {},
          "Comma-separated resolvers for PTR lookups: ip, ip:port or [ipv6]:port. Default: the "
          "system's (/etc/resolv.conf).");
ABSL_FLAG(absl::Duration, dns_timeout, absl::Seconds(2), "First PTR query timeout per resolver.");
ABSL_FLAG(int, dns_tries, 2, "PTR query tries per resolver.");
ABSL_FLAG(int, dns_max_in_flight, 64, "PTR lookups in flight at once per replica.");
ABSL_FLAG(absl::Duration, ptr_positive_ttl, absl::Hours(24),
          "How long an IP with a PTR record is cached before it is looked up again.");
ABSL_FLAG(absl::Duration, ptr_negative_ttl, absl::Hours(1),
          "How long \"no PTR\" and failed lookups are cached.");
ABSL_FLAG(bool, enrichment, true,
          "Look up PTR and owner of new destination IPs in the background on this replica.");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warning, error.");
ABSL_FLAG(std::string, abuse_webhook_secret_file, "",
          "File holding the secret that signs abuse webhooks (HMAC-SHA256 of the body, header "
          "X-Egress-Signature); empty: unsigned. The URL is an admin setting "
          "(egressctl abuse policy set default webhook_url=...).");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port of a Prometheus /metrics HTTP listener, e.g. 127.0.0.1:9464. Empty: none.");

namespace egress {
namespace {

absl::StatusOr<ServiceConfig> ConfigFromFlags() {
  ServiceConfig config;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  config.database = absl::GetFlag(FLAGS_database);
  if (config.database.empty()) {
    if (const char* env = std::getenv("EGRESS_DATABASE")) config.database = env;
  }
  config.time_zone = absl::GetFlag(FLAGS_time_zone);
  config.token_secret_file = absl::GetFlag(FLAGS_token_secret_file);
  if (config.token_secret_file.empty()) {
    if (const char* env = std::getenv("EGRESS_TOKEN_SECRET_FILE")) config.token_secret_file = env;
  }
  config.db_pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.retention_days = absl::GetFlag(FLAGS_retention_days);
  config.ingest_threads = absl::GetFlag(FLAGS_ingest_threads);
  config.ingest_writers = absl::GetFlag(FLAGS_ingest_writers);
  config.ingest_group_records = absl::GetFlag(FLAGS_ingest_group_records);
  config.ingest_journal = absl::GetFlag(FLAGS_ingest_journal);
  config.ingest_fold_interval = absl::GetFlag(FLAGS_ingest_fold_interval);
  config.ingest_journal_max_backlog = absl::GetFlag(FLAGS_ingest_journal_max_backlog);
  config.database_wait = absl::GetFlag(FLAGS_database_wait);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &config.log_level)) {
    return absl::InvalidArgumentError("--log-level must be debug, info, warning or error");
  }
  absl::Status valid = ValidateConfig(config);
  if (!valid.ok()) return valid;
  return config;
}

// Retries with backoff until the database answers or `wait` has passed, so
// the service and PostgreSQL can be started together (docker-compose).
absl::StatusOr<std::unique_ptr<Database>> ConnectWithRetry(const ServiceConfig& config) {
  DatabaseOptions options;
  options.conninfo = config.database;
  options.pool_size = config.db_pool_size;
  const absl::Time give_up = absl::Now() + config.database_wait;
  absl::Duration delay = absl::Milliseconds(200);
  while (true) {
    absl::StatusOr<std::unique_ptr<Database>> database = Database::Connect(options);
    if (database.ok() || database.status().code() != absl::StatusCode::kUnavailable ||
        absl::Now() + delay > give_up) {
      return database;
    }
    LogWarning("database_unreachable",
               {{"error", database.status().message()}, {"retry_in", absl::FormatDuration(delay)}});
    absl::SleepFor(delay);
    delay = std::min(delay * 2, absl::Seconds(5));
  }
}

int Run() {
  absl::StatusOr<ServiceConfig> config = ConfigFromFlags();
  if (!config.ok()) {
    std::cerr << "egress-service: " << config.status().message() << "\n";
    return 2;
  }
  SetMinLogLevel(config->log_level);

  // Block the stop signals in every thread (gRPC's included); main waits for
  // them with sigwait, so shutdown runs on a normal thread, not in a handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<TokenSigner>> signer =
      TokenSigner::FromFile(config->token_secret_file);
  if (!signer.ok()) {
    std::cerr << "egress-service: --token-secret-file: " << signer.status().message() << "\n";
    return 2;
  }

  absl::StatusOr<std::unique_ptr<Database>> database = ConnectWithRetry(*config);
  if (!database.ok()) {
    LogError("database_connect_failed", {{"error", database.status().message()}});
    return 1;
  }
  absl::StatusOr<MigrationReport> migrated = ApplyMigrations(**database, EmbeddedMigrations());
  if (!migrated.ok()) {
    LogError("migration_failed", {{"error", migrated.status().message()}});
    return 1;
  }
  EnrichmentOptions enrichment_options;
  const std::string owner = absl::GetFlag(FLAGS_owner_database);
  if (owner == "libloc") {
    enrichment_options.owner_database_kind = OwnerDatabaseKind::kLibloc;
  } else if (owner == "maxmind") {
    enrichment_options.owner_database_kind = OwnerDatabaseKind::kMaxmind;
  } else if (owner == "none") {
    enrichment_options.owner_database_kind = OwnerDatabaseKind::kNone;
  } else {
    std::cerr << "egress-service: --owner-database must be libloc, maxmind or none\n";
    return 2;
  }
  if (!absl::GetFlag(FLAGS_owner_database_path).empty()) {
    enrichment_options.owner_database_path = absl::GetFlag(FLAGS_owner_database_path);
  }
  enrichment_options.resolvers = absl::GetFlag(FLAGS_dns_resolvers);
  enrichment_options.resolver_timeout = absl::GetFlag(FLAGS_dns_timeout);
  enrichment_options.resolver_tries = absl::GetFlag(FLAGS_dns_tries);
  enrichment_options.max_in_flight = absl::GetFlag(FLAGS_dns_max_in_flight);
  enrichment_options.positive_ttl = absl::GetFlag(FLAGS_ptr_positive_ttl);
  enrichment_options.negative_ttl = absl::GetFlag(FLAGS_ptr_negative_ttl);
  enrichment_options.worker_enabled = absl::GetFlag(FLAGS_enrichment);
  absl::StatusOr<std::unique_ptr<Enrichment>> enrichment =
      Enrichment::Create(enrichment_options, database->get());
  if (!enrichment.ok()) {
    LogError("enrichment_failed", {{"error", enrichment.status().message()}});
    return 2;
  }
  if (enrichment_options.worker_enabled) (*enrichment)->worker().Start();

  LogInfo("schema_ready",
          {{"schema_version", migrated->schema_version}, {"applied", migrated->applied}});

  ServerOptions options;
  options.listen_address = config->listen_address;
  options.also_listen = absl::GetFlag(FLAGS_also_listen);
  options.time_zone = *LoadTimeZone(config->time_zone);
  options.retention_days = config->retention_days;
  options.ingest_threads = config->ingest_threads;
  options.ingest_writers = config->ingest_writers;
  options.ingest_group_records = config->ingest_group_records;
  options.ingest_mode = config->ingest_journal ? IngestMode::kJournal : IngestMode::kDirect;
  options.ingest_fold_interval = config->ingest_fold_interval;
  options.ingest_journal_max_backlog = static_cast<uint64_t>(config->ingest_journal_max_backlog);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.abuse_webhook_secret_file = absl::GetFlag(FLAGS_abuse_webhook_secret_file);
  ServerDependencies deps;
  deps.database = database->get();
  deps.token_signer = signer->get();
  deps.enrichment = enrichment->get();
  absl::StatusOr<std::unique_ptr<EgressServer>> server = EgressServer::Start(options, deps);
  if (!server.ok()) {
    LogError("listen_failed", {{"error", server.status().message()}});
    return 1;
  }
  LogInfo("listening", {{"address", (*server)->address()}, {"time_zone", config->time_zone}});
  std::printf("egress-service listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP) {
    absl::Status reloaded = (*enrichment)->ReloadOwnerDatabase();
    if (reloaded.ok()) {
      LogInfo("owner_database_reloaded");
    } else {
      LogWarning("owner_database_reload_failed", {{"error", reloaded.message()}});
    }
  }
  LogInfo("shutting_down",
          {{"signal", signal_number}, {"grace", absl::FormatDuration(config->shutdown_grace)}});
  (*server)->Shutdown(absl::Now() + config->shutdown_grace);
  enrichment->reset();
  LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  egress::ParseCommandLine(
      argc, argv,
      "the central egress gRPC service.\n"
      "Stores the agents' daily connection counts in PostgreSQL and serves the panel,\n"
      "admin and antivirus APIs (egress.v1), gRPC health and server reflection.\n"
      "Usage: egress-service --database='host=/run/postgresql dbname=egress' "
      "[--listen=127.0.0.1:50051] [--time-zone=UTC]\n"
      "Flags may be spelled with dashes or underscores.");
  return egress::Run();
}
