// egress-service configuration: filled from flags in main.cc, validated once.
#ifndef EGRESS_SERVICE_CONFIG_H_
#define EGRESS_SERVICE_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/log.h"

namespace egress {

struct ServiceConfig {
  std::string listen_address = "127.0.0.1:50051";
  // libpq connection string or URI.
  std::string database;
  // IANA zone whose civil days the daily aggregates use.
  std::string time_zone = "UTC";
  int db_pool_size = 16;
  int retention_days = 400;
  int ingest_threads = 8;
  int ingest_writers = 2;
  int ingest_group_records = 50000;
  // Acknowledge batches once journaled, fold into the aggregates every
  // ingest_fold_interval (false: merge into the aggregates before the ack).
  bool ingest_journal = true;
  absl::Duration ingest_fold_interval = absl::Milliseconds(250);
  int64_t ingest_journal_max_backlog = 1000000;
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
