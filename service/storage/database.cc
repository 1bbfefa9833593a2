#include "service/storage/database.h"

#include <poll.h>

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
#include "service/storage/pg_values.h"
#include "service/storage/prepared.h"

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

// 40001 serialization_failure, 40P01 deadlock_detected. libpqxx 6 throws
// these as pqxx::serialization_failure and pqxx::deadlock_detected, which
// are not pqxx::sql_error (and carry no SQLSTATE); the SQLSTATE check covers
// libpqxx versions that do.
bool IsRetryable(const std::exception& error) {
  if (dynamic_cast<const pqxx::serialization_failure*>(&error) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&error) != nullptr) {
    return true;
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  return sql != nullptr && (sql->sqlstate() == "40001" || sql->sqlstate() == "40P01");
}

std::string Detail(const std::exception& error, absl::string_view state = "") {
  return state.empty() ? std::string(error.what()) : absl::StrCat(state, ": ", error.what());
}

// The notifications the transaction body running on this thread asked for
// (Database::NotifyAfterCommit); null outside a body.
thread_local std::vector<std::pair<std::string, std::string>>* pending_notifications = nullptr;

// Points pending_notifications at one attempt's list for its lifetime
// (restoring what was there, should a body ever run another transaction).
class NotificationScope {
 public:
  explicit NotificationScope(std::vector<std::pair<std::string, std::string>>* list)
      : saved_(pending_notifications) {
    pending_notifications = list;
  }
  ~NotificationScope() { pending_notifications = saved_; }
  NotificationScope(const NotificationScope&) = delete;
  NotificationScope& operator=(const NotificationScope&) = delete;

 private:
  std::vector<std::pair<std::string, std::string>>* const saved_;
};

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

// An idle connection has nothing to read unless its server hung up (a
// restart or shutdown sends a FATAL message, then closes): any byte, EOF or
// error on its socket means it is not worth sending a statement on. One
// poll(2) with no wait.
bool ServerHungUp(const pqxx::connection& connection) {
  const int socket = connection.sock();
  if (socket < 0) return true;
  pollfd entry{socket, POLLIN | POLLRDHUP, 0};
  return poll(&entry, 1, 0) != 0;
}

// SQLSTATEs with which the server ends a session while a statement runs:
// class 08 (connection exception), 57P01 (terminated by an administrator or
// a shutdown) and 57P02 (another backend crashed).
bool EndedTheSession(const std::string& state) {
  return absl::StartsWith(state, "08") || state == "57P01" || state == "57P02";
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
  if (IsRetryable(error)) {
    return WithPrivateDetail(absl::AbortedError(kConflict), Detail(error));
  }
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&error) != nullptr) {
    // 40003: the server cannot tell whether the statement completed.
    return WithPrivateDetail(absl::UnavailableError(kCommitInDoubt), Detail(error));
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&error) != nullptr) {
    // 40000 and other rollbacks the server chose: nothing was written.
    return WithPrivateDetail(absl::AbortedError(kConflict), Detail(error));
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
  std::vector<std::unique_ptr<pqxx::connection>> hung_up;
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
    while (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (!ServerHungUp(*connection)) return connection;
      // Closed when Acquire returns, outside the lock (closing may wait).
      --open_;
      ++idle_dropped_;
      hung_up.push_back(std::move(connection));
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
  stats.notifications_failed = notifications_failed_.load();
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

absl::Status Database::WriteOneStatement(const SnapshotBody& body) {
  return Run<pqxx::nontransaction>(body, BrokenMeans::kRunTwiceHarmless);
}

absl::Status Database::ReadInOneStatement(const SnapshotBody& body) {
  return Run<pqxx::nontransaction>(body, BrokenMeans::kRunTwiceHarmless);
}

absl::Status Database::TransactInOneStatement(const SnapshotBody& body) {
  return Run<pqxx::nontransaction>(body, BrokenMeans::kOutcomeUnknown);
}

void Database::NotifyAfterCommit(const std::string& channel, const std::string& payload) {
  if (pending_notifications == nullptr) {
    LogError("notify_outside_transaction", {{"channel", channel}});
    return;
  }
  const std::pair<std::string, std::string> notification(channel, payload);
  if (std::find(pending_notifications->begin(), pending_notifications->end(), notification) ==
      pending_notifications->end()) {
    pending_notifications->push_back(notification);
  }
}

Database::Database(DatabaseOptions options)
    : options_(std::move(options)),
      notifier_(std::make_unique<AfterCommitNotifier>(
          [this](const std::vector<AfterCommitNotifier::Notification>& notifications) {
            SendNotifications(notifications);
          })) {}

void Database::SendNotifications(
    const std::vector<std::pair<std::string, std::string>>& notifications) {
  // One prepared statement outside a transaction block, so a transaction
  // of its own (one round trip), which does not wait for its WAL flush
  // (set_config(..., true) lasts until that transaction's end, and commit
  // reads it): the NOTIFY lock is held only for an in-memory commit.
  static constexpr char kNotify[] =
      "SELECT set_config('synchronous_commit', 'off', true), pg_notify(n.c, n.p) "
      "FROM unnest($1::text[], $2::text[]) AS n (c, p)";
  std::vector<std::string> channels, payloads;
  for (const auto& [channel, payload] : notifications) {
    channels.push_back(channel);
    payloads.push_back(payload);
  }
  absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Acquire();
  if (!connection.ok()) {
    // The changes themselves committed: listeners find them at their next
    // re-check.
    notifications_failed_ += notifications.size();
    LogWarning("notify_after_commit_failed",
               {{"detail", PrivateDetail(connection.status()).value_or("-")}});
    return;
  }
  try {
    pqxx::nontransaction sender(**connection);
    ExecPrepared(sender, kNotify, PgArrayLiteral(channels), PgArrayLiteral(payloads));
  } catch (const std::exception& error) {
    notifications_failed_ += notifications.size();
    LogWarning("notify_after_commit_failed", {{"detail", error.what()}});
    if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) DropIdle();
  }
  Release(*std::move(connection));
}

template <typename Txn, typename Body>
absl::Status Database::Run(const Body& body, BrokenMeans broken) {
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) absl::SleepFor(RetryPause(options_.retry_pause, attempt - 1));
    absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Acquire();
    if (!connection.ok()) return connection.status();
    bool committing = false;
    bool retry = false;
    std::vector<std::pair<std::string, std::string>> notifications;
    try {
      Txn transaction(**connection);
      {
        NotificationScope scope(&notifications);
        status = body(transaction);
      }
      if (status.ok()) {
        committing = true;
        transaction.commit();
      }
    } catch (const pqxx::sql_error& error) {
      status = StatusFromException(error);
      if (broken == BrokenMeans::kOutcomeUnknown && EndedTheSession(error.sqlstate())) {
        // Terminated while running (e.g. while its commit waited for a
        // standby): the statement may have committed.
        status = WithPrivateDetail(absl::UnavailableError(kCommitInDoubt), Detail(error));
        ++commits_in_doubt_;
      } else if (IsRetryable(error)) {
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
    } catch (const pqxx::transaction_rollback& error) {
      // libpqxx 6's serialization_failure and deadlock_detected (not
      // sql_error): the transaction was rolled back, run it again.
      status = StatusFromException(error);
      if (IsRetryable(error)) {
        retry = true;
        ++conflicts_retried_;
      }
    } catch (const pqxx::in_doubt_error& error) {
      // Never retried: the commit may have happened. The caller does not
      // report success (ingest does not acknowledge), and the agent's resend
      // is recognised by its sequence if the commit did happen.
      status = StatusFromException(error);
      ++commits_in_doubt_;
      DropIdle();
    } catch (const pqxx::broken_connection& error) {
      if (broken == BrokenMeans::kOutcomeUnknown) {
        // The statement was the transaction: it may have committed.
        status = WithPrivateDetail(absl::UnavailableError(kCommitInDoubt), Detail(error));
        ++commits_in_doubt_;
      } else {
        status = StatusFromException(error);
        // Nothing was sent for commit: nothing was written (or the one
        // statement is harmless to run again).
        retry = !committing;
        if (retry) ++broken_connections_retried_;
      }
      // The server restarted or failed over: every idle connection is as
      // broken as this one. Dropping them now makes the retry (and the next
      // transactions) connect afresh instead of each finding a dead one.
      DropIdle();
    } catch (const std::exception& error) {
      status = StatusFromException(error);
    }
    Release(*std::move(connection));
    // Committed: announce it (sent from the notifier's thread).
    if (status.ok() && !notifications.empty()) notifier_->Enqueue(notifications);
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
