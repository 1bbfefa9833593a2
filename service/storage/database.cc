#include "service/storage/database.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/private_detail.h"
#include "libpq-fe.h"

namespace egress {
namespace {

// Caller-facing messages: what happened and what to do, nothing of the cause.
constexpr char kUnavailable[] = "the database is unavailable; try again later";
constexpr char kCommitInDoubt[] =
    "the database connection was lost while saving the change: it may or may not have been "
    "saved; check before trying again";
constexpr char kBusy[] = "the database is busy; try again later";
constexpr char kConflict[] =
    "the change conflicted with concurrent changes of the same data; try again";
constexpr char kInternal[] = "internal database error";

bool IsRetryable(const pqxx::sql_error& error) {
  // 40001 serialization_failure, 40P01 deadlock_detected.
  return error.sqlstate() == "40001" || error.sqlstate() == "40P01";
}

std::string Detail(const std::exception& error, absl::string_view state = "") {
  return state.empty() ? std::string(error.what()) : absl::StrCat(state, ": ", error.what());
}

// A growing, jittered pause, so that transactions that conflicted do not
// meet again at once.
absl::Duration RetryPause(absl::Duration first, int attempt) {
  thread_local std::mt19937 engine{std::random_device{}()};
  const absl::Duration base = first * (1 << std::min(attempt - 1, 6));
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  return base + base * jitter(engine);
}

// A conninfo naming several hosts must let libpq pick the writable one:
// otherwise it may connect to a standby, where every write fails.
absl::Status CheckMultiHost(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    // libpq's own message may quote the string (and so a password).
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError("database: the connection string cannot be parsed");
  }
  int hosts = 0;
  std::string target;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const absl::string_view keyword = option->keyword;
    if (keyword == "host" || keyword == "hostaddr") {
      hosts = std::max(hosts, 1 + static_cast<int>(std::count(
                                      option->val, option->val + strlen(option->val), ',')));
    } else if (keyword == "target_session_attrs") {
      target = absl::AsciiStrToLower(option->val);
    }
  }
  PQconninfoFree(options);
  if (hosts > 1 && target != "read-write" && target != "primary") {
    return absl::InvalidArgumentError(
        "database: a connection string with several hosts needs "
        "target_session_attrs=read-write (libpq then connects to the primary)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status StatusFromException(const std::exception& error) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
    // The commit may or may not have happened; callers that care (ingest)
    // make their writes idempotent so a retry is safe.
    return WithPrivateDetail(absl::UnavailableError(kCommitInDoubt), Detail(error));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
    return WithPrivateDetail(absl::UnavailableError(kUnavailable), Detail(error));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
    const std::string& state = sql->sqlstate();
    if (state == "57014") {
      // query_canceled: a statement timeout.
      return WithPrivateDetail(absl::DeadlineExceededError(kBusy), Detail(error, state));
    }
    // Class 08: connection exception; 57: operator intervention (shutdown,
    // starting up); 53: insufficient resources; 25006: read-only
    // transaction (connected to a standby, e.g. right after a failover).
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57") ||
        absl::StartsWith(state, "53") || state == "25006") {
      return WithPrivateDetail(absl::UnavailableError(kUnavailable), Detail(error, state));
    }
    if (IsRetryable(*sql)) {
      return WithPrivateDetail(absl::AbortedError(kConflict), Detail(error, state));
    }
    return WithPrivateDetail(absl::InternalError(kInternal), Detail(error, state));
  }
  return WithPrivateDetail(absl::InternalError(kInternal), Detail(error));
}

absl::StatusOr<std::unique_ptr<Database>> Database::Connect(DatabaseOptions options) {
  if (options.conninfo.empty()) return absl::InvalidArgumentError("database: conninfo is empty");
  if (options.pool_size < 1 || options.pool_size > 1000) {
    return absl::InvalidArgumentError("database: pool_size must be 1..1000");
  }
  if (options.max_attempts < 1) return absl::InvalidArgumentError("database: max_attempts < 1");
  if (absl::Status hosts = CheckMultiHost(options.conninfo); !hosts.ok()) return hosts;
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
    return WithPrivateDetail(absl::UnavailableError(kUnavailable),
                             absl::StrCat("cannot connect: ", error.what()));
  }
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Database::Acquire() {
  const absl::Time deadline = absl::Now() + options_.acquire_timeout;
  {
    absl::MutexLock lock(&mutex_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mutex_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
      return WithPrivateDetail(absl::DeadlineExceededError(kBusy),
                               absl::StrCat("no pooled connection free within ",
                                            absl::FormatDuration(options_.acquire_timeout),
                                            " (pool of ", options_.pool_size, ")"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Open();
  if (!connection.ok()) {
    absl::MutexLock lock(&mutex_);
    --open_;
  }
  return connection;
}

Database::PoolStats Database::pool_stats() const {
  absl::MutexLock lock(&mutex_);
  PoolStats stats;
  stats.open = open_;
  stats.in_use = open_ - static_cast<int>(idle_.size());
  stats.max = options_.pool_size;
  return stats;
}

Database::RetryStats Database::retry_stats() const {
  RetryStats stats;
  stats.conflicts_retried = conflicts_retried_.load();
  stats.broken_connections_retried = broken_connections_retried_.load();
  stats.conflicts_exhausted = conflicts_exhausted_.load();
  stats.commits_in_doubt = commits_in_doubt_.load();
  {
    absl::MutexLock lock(&mutex_);
    stats.idle_dropped = idle_dropped_;
  }
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

void Database::DropIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    absl::MutexLock lock(&mutex_);
    dropped.swap(idle_);
    open_ -= static_cast<int>(dropped.size());
    idle_dropped_ += dropped.size();
  }
  // Closed outside the lock: closing may wait on the network.
}

absl::Status Database::Transact(const TransactionBody& body) { return Run<pqxx::work>(body); }

absl::Status Database::ReadSnapshot(const SnapshotBody& body) {
  // "BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
  // sent as one statement.
  return Run<
      pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>>(
      body);
}

template <typename Txn, typename Body>
absl::Status Database::Run(const Body& body) {
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) absl::SleepFor(RetryPause(options_.retry_pause, attempt - 1));
    absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Acquire();
    if (!connection.ok()) return connection.status();
    bool committing = false;
    bool retry = false;
    try {
      Txn transaction(**connection);
      status = body(transaction);
      if (status.ok()) {
        committing = true;
        transaction.commit();
      }
    } catch (const pqxx::sql_error& error) {
      status = StatusFromException(error);
      if (IsRetryable(error)) {
        retry = true;
        ++conflicts_retried_;
      } else if (error.sqlstate() == "25006") {
        // A read-only server (a demoted primary): drop this connection and
        // the idle ones (they lead to the same server) so the pool
        // reconnects, which with target_session_attrs=read-write finds the
        // new primary.
        (*connection)->disconnect();
        DropIdle();
        retry = !committing;
      }
    } catch (const pqxx::in_doubt_error& error) {
      // Never retried: the commit may have happened. The caller does not
      // report success (ingest does not acknowledge), and the agent's resend
      // is recognised by its sequence if the commit did happen.
      status = StatusFromException(error);
      ++commits_in_doubt_;
      DropIdle();
    } catch (const pqxx::broken_connection& error) {
      status = StatusFromException(error);
      // Nothing was sent for commit: nothing was written.
      retry = !committing;
      if (retry) ++broken_connections_retried_;
      // The server restarted or failed over: every idle connection is as
      // broken as this one. Dropping them now makes the retry (and the next
      // transactions) connect afresh instead of each finding a dead one.
      DropIdle();
    } catch (const std::exception& error) {
      status = StatusFromException(error);
    }
    Release(*std::move(connection));
    if (!retry) return status;
  }
  if (status.code() == absl::StatusCode::kAborted) {
    ++conflicts_exhausted_;
    LogWarning(
        "database_conflict_retries_exhausted",
        {{"attempts", options_.max_attempts}, {"detail", PrivateDetail(status).value_or("-")}});
  }
  return status;
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
