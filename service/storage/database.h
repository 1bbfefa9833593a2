// PostgreSQL access: a bounded pool of libpqxx connections and transactions
// whose failures come back as absl::Status.
//
// This is the boundary where libpqxx exceptions stop: callers above the
// storage layer see only absl::Status with these codes, each with a short
// message written for any caller and the database's own text attached as a
// private detail (common/private_detail.h) that only the service log shows:
//   UNAVAILABLE        the database cannot be reached, is shutting down or
//                      starting up, is read-only (a standby after a
//                      failover), or the connection broke while committing
//                      (the outcome is unknown; ingest is idempotent);
//   DEADLINE_EXCEEDED  no pooled connection became free in time, or a
//                      statement was cancelled by its timeout;
//   ABORTED            serialization failure or deadlock that persisted
//                      through the retries (the caller may try again);
//   INTERNAL           any other SQL error (a bug).
// Statuses returned by the transaction body pass through unchanged and roll
// the transaction back.
//
// Retries: Transact re-runs the whole body on serialization failures and
// deadlocks (SQLSTATE 40001, 40P01), with a jittered, growing pause, up to
// max_attempts; and on a connection that turns out to be broken before the
// commit was sent (a pooled connection to a server that restarted or failed
// over: nothing was written, so running the body again on a fresh
// connection is safe). A connection that breaks during the commit is never
// retried: the commit may have happened (UNAVAILABLE; callers must not report
// success, and must make a later retry of the same change harmless).
//
// Notifications (NOTIFY) a body asks for with NotifyAfterCommit are sent
// after its transaction committed, in a short transaction of their own
// that does not wait for its WAL flush (AfterCommitNotifier: by the
// committing thread when no send is under way; else queued, and those of
// every writer that commits meanwhile share the next statement). Not inside the writer's
// transaction because PostgreSQL serializes every committing transaction that issued a NOTIFY on
// one database-wide lock, held through the commit's WAL flush: with NOTIFY inside, concurrent
// writers could not share a flush (group commit), and they queued on that lock
// (bench/rule_push_bench). The price: a process that dies between the commit and the notification,
// or a notification that fails, leaves the change unannounced; listeners must re-check on their own
// now and then (RuleChangeListener does).
//
// Failover: a broken connection, or a server found read-only (a demoted
// primary), also drops every idle pooled connection, since they lead to the
// same server; new ones are opened with the same conninfo. With several
// hosts and target_session_attrs=read-write (which Connect requires when
// there are several hosts), libpq then connects to whichever is the primary
// now, so the service follows a failover without a restart.
#ifndef EGRESS_SERVICE_STORAGE_DATABASE_H_
#define EGRESS_SERVICE_STORAGE_DATABASE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pqxx/pqxx"
#include "service/storage/after_commit_notifier.h"

namespace egress {

struct DatabaseOptions {
  // libpq connection string, e.g. "host=/run/egress port=5432 dbname=egress".
  std::string conninfo;
  // Connections kept open at most.
  int pool_size = 16;
  // How long a transaction waits for a free connection.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Attempts for serialization failures and deadlocks (and for bodies that
  // found their pooled connection broken before committing).
  int max_attempts = 5;
  // Pause before the second attempt; doubled for each further one, with
  // random jitter of up to the pause itself.
  absl::Duration retry_pause = absl::Milliseconds(2);
  // Sent as application_name, visible in pg_stat_activity.
  std::string application_name = "egress-service";
};

// Thread-safe. Connections are opened lazily and replaced when broken, so the
// service keeps running through a database restart (calls in between fail with
// UNAVAILABLE).
class Database {
 public:
  using TransactionBody = std::function<absl::Status(pqxx::work&)>;
  using SnapshotBody = std::function<absl::Status(pqxx::transaction_base&)>;

  // Checks the options and opens one connection to fail fast on a bad
  // conninfo (UNAVAILABLE; libpq's message in the private detail, which
  // Status::ToString() shows for start-up logs) or options
  // (INVALID_ARGUMENT, also for a conninfo with several hosts but without
  // target_session_attrs=read-write or primary).
  static absl::StatusOr<std::unique_ptr<Database>> Connect(DatabaseOptions options);

  // Runs `body` in a read-write transaction and commits when it returns OK.
  // Retried (whole, see above), so `body` must only touch the database and
  // reset its own locals.
  absl::Status Transact(const TransactionBody& body);

  // Inside a Transact (or WriteOneStatement) body, on its thread: once the
  // transaction commits, NOTIFY `channel` with `payload` (see
  // "Notifications" above). Identical requests of one transaction are sent
  // once; none is sent if the body fails or its attempt is retried (the
  // next attempt asks again). Outside a body: a bug, logged and dropped.
  static void NotifyAfterCommit(const std::string& channel, const std::string& payload);

  // Runs `body` in a read-only REPEATABLE READ transaction (one snapshot for
  // every statement), begun in one round trip; retried like Transact.
  absl::Status ReadSnapshot(const SnapshotBody& body);

  // Runs `body` outside a transaction block: each statement it sends is a
  // transaction of its own (no BEGIN or COMMIT round trips). For a write
  // that is one statement. Retried like Transact, and also when the
  // connection broke while the statement ran (its outcome unknown), so the
  // statement must be harmless to run twice.
  absl::Status WriteOneStatement(const SnapshotBody& body);

  // Runs `body`, which sends one statement (typically a call of a PL/pgSQL
  // function holding a whole change), outside a transaction block: the
  // statement is the transaction, in one round trip instead of BEGIN, the
  // statements and COMMIT. Retried on serialization failures and deadlocks
  // (the statement was rolled back) and on a connection found broken before
  // it was used. A connection that breaks while the statement runs leaves
  // its outcome unknown, like a commit in doubt: UNAVAILABLE, not retried,
  // so the statement need not be harmless to run twice.
  absl::Status TransactInOneStatement(const SnapshotBody& body);

  // Runs `body`, which sends one read-only statement, outside a transaction
  // block: one snapshot, one round trip (no BEGIN or COMMIT). Retried like
  // WriteOneStatement (reading twice is harmless).
  absl::Status ReadInOneStatement(const SnapshotBody& body);

  // Runs `body` on a connection outside any transaction block (for
  // statements such as CREATE DATABASE that refuse to run inside one).
  absl::Status WithConnection(const std::function<absl::Status(pqxx::connection&)>& body);

  const DatabaseOptions& options() const { return options_; }

  struct RetryStats {
    // Bodies run again after a serialization failure or deadlock.
    uint64_t conflicts_retried = 0;
    // Bodies run again after finding their connection broken.
    uint64_t broken_connections_retried = 0;
    // Transactions that gave up with ABORTED after max_attempts.
    uint64_t conflicts_exhausted = 0;
    // Connections lost while committing (outcome unknown; never retried).
    uint64_t commits_in_doubt = 0;
    // Idle connections closed because another one to the same server broke.
    uint64_t idle_dropped = 0;
    // After-commit notifications that could not be sent (the change was
    // committed; listeners find it at their next re-check).
    uint64_t notifications_failed = 0;
  };
  RetryStats retry_stats() const;

  struct PoolStats {
    // Connections open (idle + in use) and lent out to a transaction now.
    int open = 0;
    int in_use = 0;
    int max = 0;
  };
  PoolStats pool_stats() const;

 private:
  explicit Database(DatabaseOptions options);

  // Transact and ReadSnapshot: `body` in a transaction of type Txn.
  // What a connection that breaks while `body` runs may have left written.
  enum class BrokenMeans {
    kNothingCommitted,  // a transaction block not yet committing: retry
    kRunTwiceHarmless,  // WriteOneStatement: retry
    kOutcomeUnknown,    // TransactInOneStatement: in doubt, no retry
  };
  template <typename Txn, typename Body>
  absl::Status Run(const Body& body, BrokenMeans broken = BrokenMeans::kNothingCommitted);

  // A pooled connection (idle ones checked for a server that went away, so
  // a statement whose outcome would be unknown is not sent on a dead one),
  // or a new one.
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> connection);
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open() const;
  // Closes every idle connection (see "Failover" above).
  void DropIdle();
  // Sends what committed bodies asked for with NotifyAfterCommit (on
  // notifier_'s thread).
  void SendNotifications(const std::vector<std::pair<std::string, std::string>>& notifications);

  const DatabaseOptions options_;
  std::atomic<uint64_t> conflicts_retried_{0};
  std::atomic<uint64_t> broken_connections_retried_{0};
  std::atomic<uint64_t> conflicts_exhausted_{0};
  std::atomic<uint64_t> commits_in_doubt_{0};
  std::atomic<uint64_t> notifications_failed_{0};
  mutable absl::Mutex mutex_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mutex_);
  int open_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t idle_dropped_ ABSL_GUARDED_BY(mutex_) = 0;
  // Last: destroyed first, sending what is still queued while the pool is
  // still there.
  std::unique_ptr<AfterCommitNotifier> notifier_;
};

// Maps a libpqxx / libpq exception to a status (see the header comment): a
// caller-facing message, the exception's text as the private detail.
absl::Status StatusFromException(const std::exception& error);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_DATABASE_H_
