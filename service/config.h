// egress-service configuration: filled from flags in main.cc, validated once.
#ifndef EGRESS_SERVICE_CONFIG_H_
#define EGRESS_SERVICE_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "service/server.h"
#include "service/storage/database.h"

namespace egress {

// Defaults come from the option structs of the parts they configure (and the
// flags in main.cc take theirs from here), so each setting has one default.
struct ServiceConfig {
  std::string listen_address = ServerOptions().listen_address;
  // libpq connection string or URI.
  std::string database;
  // IANA zone whose civil days the daily aggregates use.
  std::string time_zone = "UTC";
  int db_pool_size = DatabaseOptions().pool_size;
  int retention_days = ServerOptions().retention_days;
  int ingest_threads = ServerOptions().ingest_threads;
  int ingest_writers = ServerOptions().ingest_writers;
  int ingest_group_records = ServerOptions().ingest_group_records;
  // Acknowledge batches once journaled, fold into the aggregates every
  // ingest_fold_interval (false: merge into the aggregates before the ack).
  bool ingest_journal = ServerOptions().ingest_mode == IngestMode::kJournal;
  absl::Duration ingest_fold_interval = ServerOptions().ingest_fold_interval;
  int64_t ingest_journal_max_backlog =
      static_cast<int64_t>(ServerOptions().ingest_journal_max_backlog);
  // How long to keep retrying the database at start-up before giving up.
  absl::Duration database_wait = absl::Seconds(60);
  // Time calls in flight get to finish after SIGTERM.
  absl::Duration shutdown_grace = absl::Seconds(10);
  LogLevel log_level = LogLevel::kInfo;
  // File holding the HS256 secret that signs every token (>= 32 bytes).
  std::string token_secret_file;
};

// INVALID_ARGUMENT naming the flag for the first bad value.
absl::Status ValidateConfig(const ServiceConfig& config);

}  // namespace egress

#endif  // EGRESS_SERVICE_CONFIG_H_
