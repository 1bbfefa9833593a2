#include "service/config.h"

#include "absl/strings/str_cat.h"
#include "common/civil_day.h"

namespace egress {

absl::Status ValidateConfig(const ServiceConfig& config) {
  if (config.listen_address.empty()) return absl::InvalidArgumentError("--listen is empty");
  if (config.database.empty()) {
    return absl::InvalidArgumentError(
        "--database is empty: give a libpq connection string such as "
        "\"host=/run/postgresql dbname=egress\" (or set EGRESS_DATABASE)");
  }
  if (absl::Status zone = LoadTimeZone(config.time_zone).status(); !zone.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--time-zone: ", zone.message()));
  }
  if (config.token_secret_file.empty()) {
    return absl::InvalidArgumentError(
        "--token-secret-file is empty: every caller authenticates with a token signed by this "
        "secret (create one with: head -c 48 /dev/urandom | base64 > secret; chmod 600 secret)");
  }
  if (config.db_pool_size < 1 || config.db_pool_size > 1000) {
    return absl::InvalidArgumentError("--db-pool-size must be 1..1000");
  }
  if (config.retention_days < 1 || config.retention_days > 3660) {
    return absl::InvalidArgumentError("--retention-days must be 1..3660");
  }
  if (config.ingest_threads < 1 || config.ingest_threads > 256) {
    return absl::InvalidArgumentError("--ingest-threads must be 1..256");
  }
  if (config.ingest_writers < 1 || config.ingest_writers > config.db_pool_size) {
    return absl::InvalidArgumentError(
        "--ingest-writers must be 1..--db-pool-size (each writer holds a connection)");
  }
  if (config.ingest_fold_interval < absl::Milliseconds(10) ||
      config.ingest_fold_interval > absl::Minutes(1)) {
    return absl::InvalidArgumentError("--ingest-fold-interval must be 10ms..1m");
  }
  if (config.ingest_journal_max_backlog < 100000) {
    return absl::InvalidArgumentError(
        "--ingest-journal-max-backlog must be at least 100000 (records)");
  }
  if (config.ingest_group_records < 1 || config.ingest_group_records > 10000000) {
    return absl::InvalidArgumentError("--ingest-group-records must be 1..10000000");
  }
  if (config.database_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--database-wait must not be negative");
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown-grace must not be negative");
  }
  return absl::OkStatus();
}

}  // namespace egress
