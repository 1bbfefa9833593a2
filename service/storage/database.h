// PostgreSQL access: a bounded pool of libpqxx connections and transactions
// whose failures come back as absl::Status.
//
// This is the boundary where libpqxx exceptions stop: callers above the
// storage layer see only absl::Status with these codes:
//   UNAVAILABLE        connection lost or server shutting down / starting up
//                      (the call can be retried later);
//   DEADLINE_EXCEEDED  no pooled connection became free in time;
//   ABORTED            serialization failure or deadlock that persisted
//                      through the retries;
//   INTERNAL           any other SQL error (a bug: the message says which).
// Statuses returned by the transaction body pass through unchanged and roll
// the transaction back.
#ifndef EGRESS_SERVICE_STORAGE_DATABASE_H_
#define EGRESS_SERVICE_STORAGE_DATABASE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pqxx/pqxx"

namespace egress {

struct DatabaseOptions {
  // libpq connection string, e.g. "host=/run/egress port=5432 dbname=egress".
  std::string conninfo;
  // Connections kept open at most.
  int pool_size = 8;
  // How long a transaction waits for a free connection.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Attempts for serialization failures and deadlocks.
  int max_attempts = 3;
  // Sent as application_name, visible in pg_stat_activity.
  std::string application_name = "egress-service";
};

// Thread-safe. Connections are opened lazily and replaced when broken, so the
// service keeps running through a database restart (calls in between fail with
// UNAVAILABLE).
class Database {
 public:
  using TransactionBody = std::function<absl::Status(pqxx::work&)>;

  // Checks the options and opens one connection to fail fast on a bad
  // conninfo (UNAVAILABLE with libpq's message) or options (INVALID_ARGUMENT).
  static absl::StatusOr<std::unique_ptr<Database>> Connect(DatabaseOptions options);

  // Runs `body` in a read-write transaction and commits when it returns OK.
  // Retried (whole) on serialization failure or deadlock, so `body` must
  // only touch the database and its own locals.
  absl::Status Transact(const TransactionBody& body);

  // Runs `body` on a connection outside any transaction block (for
  // statements such as CREATE DATABASE that refuse to run inside one).
  absl::Status WithConnection(const std::function<absl::Status(pqxx::connection&)>& body);

  const DatabaseOptions& options() const { return options_; }

  struct PoolStats {
    // Connections open (idle + in use) and lent out to a transaction now.
    int open = 0;
    int in_use = 0;
    int max = 0;
  };
  PoolStats pool_stats() const;

 private:
  explicit Database(DatabaseOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> connection);
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open() const;

  const DatabaseOptions options_;
  mutable absl::Mutex mutex_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mutex_);
  int open_ ABSL_GUARDED_BY(mutex_) = 0;
};

// Maps a libpqxx / libpq exception to a status (see the header comment).
absl::Status StatusFromException(const std::exception& error);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_DATABASE_H_
