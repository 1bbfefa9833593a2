#include "service/storage/database.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace egress {
namespace {

bool IsRetryable(const pqxx::sql_error& error) {
  // 40001 serialization_failure, 40P01 deadlock_detected.
  return error.sqlstate() == "40001" || error.sqlstate() == "40P01";
}

}  // namespace

absl::Status StatusFromException(const std::exception& error) {
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", error.what()));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
    // The commit may or may not have happened; callers that care (ingest)
    // make their writes idempotent so a retry is safe.
    return absl::UnavailableError(absl::StrCat("database commit in doubt: ", error.what()));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
    const std::string& state = sql->sqlstate();
    // Class 08: connection exception; 57: operator intervention (shutdown,
    // starting up); 53: insufficient resources.
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57") ||
        absl::StartsWith(state, "53")) {
      return absl::UnavailableError(
          absl::StrCat("database unavailable (", state, "): ", sql->what()));
    }
    if (IsRetryable(*sql)) {
      return absl::AbortedError(absl::StrCat("database conflict (", state, "): ", sql->what()));
    }
    return absl::InternalError(absl::StrCat("database error (", state, "): ", sql->what()));
  }
  return absl::InternalError(absl::StrCat("database error: ", error.what()));
}

absl::StatusOr<std::unique_ptr<Database>> Database::Connect(DatabaseOptions options) {
  if (options.conninfo.empty()) return absl::InvalidArgumentError("database: conninfo is empty");
  if (options.pool_size < 1 || options.pool_size > 1000) {
    return absl::InvalidArgumentError("database: pool_size must be 1..1000");
  }
  if (options.max_attempts < 1) return absl::InvalidArgumentError("database: max_attempts < 1");
  std::unique_ptr<Database> db(new Database(std::move(options)));
  absl::StatusOr<std::unique_ptr<pqxx::connection>> first = db->Open();
  if (!first.ok()) return first.status();
  {
    absl::MutexLock lock(&db->mutex_);
    db->idle_.push_back(*std::move(first));
    db->open_ = 1;
  }
  return db;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Database::Open() const {
  try {
    auto connection = std::make_unique<pqxx::connection>(options_.conninfo);
    pqxx::nontransaction setup(*connection);
    setup.exec_params("SELECT set_config('application_name', $1, false)",
                      options_.application_name);
    return connection;
  } catch (const std::exception& error) {
    return absl::UnavailableError(absl::StrCat("cannot connect to the database: ", error.what()));
  }
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Database::Acquire() {
  const absl::Time deadline = absl::Now() + options_.acquire_timeout;
  bool open_new = false;
  {
    absl::MutexLock lock(&mutex_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mutex_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no database connection free within ", absl::FormatDuration(options_.acquire_timeout),
          " (pool of ", options_.pool_size, ")"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    ++open_;
    open_new = true;
  }
  if (open_new) {
    absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Open();
    if (!connection.ok()) {
      absl::MutexLock lock(&mutex_);
      --open_;
    }
    return connection;
  }
  return absl::InternalError("unreachable");
}

Database::PoolStats Database::pool_stats() const {
  absl::MutexLock lock(&mutex_);
  PoolStats stats;
  stats.open = open_;
  stats.in_use = open_ - static_cast<int>(idle_.size());
  stats.max = options_.pool_size;
  return stats;
}

void Database::Release(std::unique_ptr<pqxx::connection> connection) {
  absl::MutexLock lock(&mutex_);
  if (connection != nullptr && connection->is_open()) {
    idle_.push_back(std::move(connection));
  } else {
    // Broken: forget it; the next Acquire opens a fresh one.
    --open_;
  }
}

absl::Status Database::Transact(const TransactionBody& body) {
  absl::Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Acquire();
    if (!connection.ok()) return connection.status();
    absl::Status status;
    try {
      pqxx::work transaction(**connection);
      status = body(transaction);
      if (status.ok()) transaction.commit();
    } catch (const pqxx::sql_error& error) {
      status = StatusFromException(error);
      if (IsRetryable(error) && attempt < options_.max_attempts) {
        Release(*std::move(connection));
        last = status;
        continue;
      }
    } catch (const std::exception& error) {
      status = StatusFromException(error);
    }
    Release(*std::move(connection));
    return status;
  }
  return last;
}

absl::Status Database::WithConnection(const std::function<absl::Status(pqxx::connection&)>& body) {
  absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Acquire();
  if (!connection.ok()) return connection.status();
  absl::Status status;
  try {
    status = body(**connection);
  } catch (const std::exception& error) {
    status = StatusFromException(error);
  }
  Release(*std::move(connection));
  return status;
}

}  // namespace egress
