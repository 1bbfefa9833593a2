// Database (service/storage/database.h) against a real PostgreSQL: what a
// failover does to the pool. A commit whose connection dies while the
// server waits for its synchronous standby is in doubt (UNAVAILABLE, run
// once, never retried) although it committed locally, also as one
// statement outside a transaction block; idle connections whose server
// went away are replaced before use; a multi-host conninfo must ask for the
// writable host.
#include "service/storage/database.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/notification_listener.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::NotificationListener;
using ::egress::testing::PostgresCluster;
using ::testing::HasSubstr;

// Terminates the first backend seen waiting for synchronous replication;
// true if it found one within `timeout`.
bool TerminateSyncRepWaiter(const std::string& conninfo, absl::Duration timeout) {
  pqxx::connection connection(conninfo);
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    pqxx::nontransaction work(connection);
    const pqxx::result rows = work.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
    if (!rows.empty()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

// A cluster whose database "egress" holds a table t and where every commit
// waits for a synchronous standby that never answers, as on a primary whose
// standby is gone (the test cluster runs with synchronous_commit=off; a
// database setting overrides that).
absl::StatusOr<std::unique_ptr<PostgresCluster>> StartWithAStandbyThatNeverAnswers() {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Start();
  if (!cluster.ok()) return cluster.status();
  if (absl::Status created = (*cluster)->CreateDatabase("egress"); !created.ok()) return created;
  pqxx::connection connection((*cluster)->ConnectionString("egress"));
  pqxx::nontransaction work(connection);
  work.exec("CREATE TABLE t (x int)");
  work.exec("ALTER DATABASE egress SET synchronous_commit = on");
  work.exec("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
  work.exec("SELECT pg_reload_conf()");
  return cluster;
}

// Runs `write` while another thread terminates the backend that waits for
// the standby (its commit).
absl::Status WriteWhileTheWaiterIsTerminated(PostgresCluster& cluster,
                                             const std::function<absl::Status()>& write) {
  std::thread killer([&] {
    EXPECT_TRUE(TerminateSyncRepWaiter(cluster.ConnectionString("postgres"), absl::Seconds(10)));
  });
  const absl::Status status = write();
  killer.join();
  return status;
}

// Commits stop waiting for the standby; returns the rows of t (what did
// commit locally: a standby would or would not have it).
int ForgetTheStandbyAndCountRows(PostgresCluster& cluster) {
  {
    pqxx::connection check(cluster.ConnectionString("postgres"));
    pqxx::nontransaction work(check);
    work.exec("ALTER SYSTEM RESET synchronous_standby_names");
    work.exec("SELECT pg_reload_conf()");
  }
  pqxx::connection egress_db(cluster.ConnectionString("egress"));
  return pqxx::nontransaction(egress_db).exec("SELECT count(*) FROM t")[0][0].as<int>();
}

TEST(DatabaseTest, ConnectionLostWhileCommittingIsInDoubtAndNeverRetried) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster,
                       StartWithAStandbyThatNeverAnswers());
  DatabaseOptions options;
  options.conninfo = cluster->ConnectionString("egress");
  options.pool_size = 4;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));

  std::atomic<int> runs{0};
  const absl::Status status = WriteWhileTheWaiterIsTerminated(*cluster, [&] {
    return database->Transact([&](pqxx::work& work) {
      ++runs;
      work.exec("INSERT INTO t VALUES (1)");
      return absl::OkStatus();
    });
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("may or may not have been saved"));
  EXPECT_EQ(runs.load(), 1) << "an in-doubt commit must not run again";
  EXPECT_EQ(database->retry_stats().commits_in_doubt, 1u);

  // It did commit locally: callers must make the retry of an in-doubt
  // change harmless, as ingest does.
  EXPECT_EQ(ForgetTheStandbyAndCountRows(*cluster), 1);

  // The pool carries on with a fresh connection.
  EXPECT_OK(database->Transact([](pqxx::work& work) {
    work.exec("INSERT INTO t VALUES (2)");
    return absl::OkStatus();
  }));
}

// A transaction that is one statement outside a transaction block
// (TransactInOneStatement) cannot tell a connection lost before the commit
// from one lost after it: in doubt, run once.
TEST(DatabaseTest, ConnectionLostWhileAOneStatementTransactionRunsIsInDoubt) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster,
                       StartWithAStandbyThatNeverAnswers());
  DatabaseOptions options;
  options.conninfo = cluster->ConnectionString("egress");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));

  std::atomic<int> runs{0};
  const absl::Status status = WriteWhileTheWaiterIsTerminated(*cluster, [&] {
    return database->TransactInOneStatement([&](pqxx::transaction_base& txn) {
      ++runs;
      txn.exec("INSERT INTO t VALUES (1)");
      return absl::OkStatus();
    });
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("may or may not have been saved"));
  EXPECT_EQ(runs.load(), 1) << "an in-doubt statement must not run again";
  EXPECT_EQ(database->retry_stats().commits_in_doubt, 1u);
  EXPECT_EQ(ForgetTheStandbyAndCountRows(*cluster), 1);
}

TEST(DatabaseTest, AfterAServerRestartNoStatementIsSentOnADeadConnection) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster, PostgresCluster::Start());
  ASSERT_OK(cluster->CreateDatabase("egress"));
  DatabaseOptions options;
  options.conninfo = cluster->ConnectionString("egress");
  options.pool_size = 4;
  // Fewer attempts than broken connections in the pool: each attempt that
  // found a dead connection would otherwise cost one.
  options.max_attempts = 2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));
  // Four connections open at once, then back in the pool, idle.
  {
    std::vector<std::thread> threads;
    std::atomic<int> inside{0};
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        EXPECT_OK(database->Transact([&](pqxx::work& work) {
          ++inside;
          while (inside.load() < 4) absl::SleepFor(absl::Milliseconds(1));
          work.exec("SELECT 1");
          return absl::OkStatus();
        }));
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  ASSERT_EQ(database->pool_stats().open, 4);

  ASSERT_OK(cluster->StopServer());
  ASSERT_OK(cluster->StartServer());
  // The dead connections are found before a statement is sent on one: even
  // the kind of transaction that cannot be retried (its outcome would be
  // unknown) succeeds at once.
  int runs = 0;
  EXPECT_OK(database->TransactInOneStatement([&](pqxx::transaction_base& txn) {
    ++runs;
    txn.exec("SELECT 1");
    return absl::OkStatus();
  }));
  EXPECT_EQ(runs, 1);
  const Database::RetryStats stats = database->retry_stats();
  EXPECT_EQ(stats.broken_connections_retried, 0u);
  EXPECT_EQ(stats.commits_in_doubt, 0u);
  EXPECT_EQ(stats.idle_dropped, 4u);
  EXPECT_EQ(database->pool_stats().open, 1);
  // A connection the server closes while it sits idle from now on is found
  // the same way.
  ASSERT_OK(cluster->StopServer());
  ASSERT_OK(cluster->StartServer());
  EXPECT_OK(database->Transact([](pqxx::work& work) {
    work.exec("SELECT 1");
    return absl::OkStatus();
  }));
  EXPECT_EQ(database->retry_stats().broken_connections_retried, 0u);
  EXPECT_EQ(database->retry_stats().idle_dropped, 5u);
}

// A connection that dies under a transaction before its commit was sent:
// nothing was written, so the whole body runs again on a fresh connection.
TEST(DatabaseTest, AConnectionLostBeforeTheCommitRunsTheBodyAgain) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster, PostgresCluster::Start());
  ASSERT_OK(cluster->CreateDatabase("egress"));
  DatabaseOptions options;
  options.conninfo = cluster->ConnectionString("egress");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));
  pqxx::connection admin(cluster->ConnectionString("postgres"));
  int runs = 0;
  EXPECT_OK(database->Transact([&](pqxx::work& work) {
    ++runs;
    const int pid = work.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    if (runs == 1) {
      pqxx::nontransaction(admin).exec_params("SELECT pg_terminate_backend($1, 5000)", pid);
    }
    work.exec("SELECT 1");
    return absl::OkStatus();
  }));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(database->retry_stats().broken_connections_retried, 1u);
  EXPECT_EQ(database->retry_stats().commits_in_doubt, 0u);
}

TEST(DatabaseTest, ARealDeadlockIsRetriedAndBothTransactionsCommit) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster, PostgresCluster::Start());
  ASSERT_OK(cluster->CreateDatabase("egress"));
  const std::string conninfo = cluster->ConnectionString("egress");
  {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    work.exec("CREATE TABLE t (id int PRIMARY KEY, n int)");
    work.exec("INSERT INTO t VALUES (1, 0), (2, 0)");
    // Detect the deadlock quickly.
    work.exec("ALTER DATABASE egress SET deadlock_timeout = '50ms'");
  }
  DatabaseOptions options;
  options.conninfo = conninfo;
  options.pool_size = 4;
  options.retry_pause = absl::Milliseconds(1);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));

  // Two transactions lock the two rows in opposite orders; both hold their
  // first row before either asks for its second, so the server must abort
  // one (40P01). Only the first attempts wait for each other.
  std::atomic<int> holding{0};
  auto opposite = [&](int first, int second) {
    bool first_attempt = true;
    return database->Transact([&](pqxx::work& work) {
      work.exec_params("UPDATE t SET n = n + 1 WHERE id = $1", first);
      if (first_attempt) {
        first_attempt = false;
        ++holding;
        while (holding.load() < 2) absl::SleepFor(absl::Milliseconds(1));
      }
      work.exec_params("UPDATE t SET n = n + 1 WHERE id = $1", second);
      return absl::OkStatus();
    });
  };
  absl::Status a, b;
  std::thread one([&] { a = opposite(1, 2); });
  std::thread two([&] { b = opposite(2, 1); });
  one.join();
  two.join();
  EXPECT_OK(a);
  EXPECT_OK(b);
  EXPECT_GE(database->retry_stats().conflicts_retried, 1u);
  pqxx::connection check(conninfo);
  pqxx::nontransaction read(check);
  EXPECT_EQ(read.exec1("SELECT sum(n) FROM t")[0].as<int>(), 4) << "each committed exactly once";
}

TEST(DatabaseTest, NotificationsAreSentOnceAfterTheCommitAndNeverForARollback) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster, PostgresCluster::Start());
  ASSERT_OK(cluster->CreateDatabase("egress"));
  const std::string conninfo = cluster->ConnectionString("egress");
  DatabaseOptions options;
  options.conninfo = conninfo;
  options.pool_size = 2;
  options.retry_pause = absl::Milliseconds(1);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));
  {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    work.exec("CREATE TABLE t (x int)");
  }
  NotificationListener listener(conninfo, "changes");

  // Committed: each distinct payload once, however often it was asked for,
  // and only once the row is visible to others.
  std::string seen_at_notify;
  ASSERT_OK(database->Transact([&](pqxx::work& work) {
    work.exec("INSERT INTO t VALUES (1)");
    Database::NotifyAfterCommit("changes", "node-a");
    Database::NotifyAfterCommit("changes", "node-a");
    Database::NotifyAfterCommit("changes", "it's \"quoted\"");
    return absl::OkStatus();
  }));
  EXPECT_THAT(listener.Drain(absl::Milliseconds(300)),
              ::testing::UnorderedElementsAre("node-a", "it's \"quoted\""));

  // A body that fails rolls back and announces nothing.
  EXPECT_FALSE(database
                   ->Transact([&](pqxx::work& work) {
                     work.exec("INSERT INTO t VALUES (2)");
                     Database::NotifyAfterCommit("changes", "node-b");
                     return absl::FailedPreconditionError("refused");
                   })
                   .ok());
  // A deadlock-like failure is retried: only the committed attempt's
  // notifications are sent (the first attempt asked for node-c).
  int attempts = 0;
  ASSERT_OK(database->Transact([&](pqxx::work& work) {
    ++attempts;
    Database::NotifyAfterCommit("changes", attempts == 1 ? "node-c" : "node-d");
    if (attempts == 1) {
      // What the server answers a serialization failure with.
      work.exec("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$");
    }
    work.exec("INSERT INTO t VALUES (3)");
    return absl::OkStatus();
  }));
  EXPECT_EQ(attempts, 2);
  EXPECT_THAT(listener.Drain(absl::Milliseconds(300)), ::testing::ElementsAre("node-d"));

  // Outside a body nothing is sent (a bug: logged).
  Database::NotifyAfterCommit("changes", "node-e");
  EXPECT_THAT(listener.Drain(absl::Milliseconds(200)), ::testing::IsEmpty());
  EXPECT_EQ(database->retry_stats().notifications_failed, 0u);
}

TEST(DatabaseTest, SeveralHostsNeedTargetSessionAttrs) {
  DatabaseOptions options;
  options.conninfo = "host=127.0.0.1,127.0.0.1 port=1,2 dbname=egress connect_timeout=1";
  absl::StatusOr<std::unique_ptr<Database>> database = Database::Connect(options);
  EXPECT_EQ(database.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(database.status().message(), HasSubstr("target_session_attrs=read-write"));

  options.conninfo = "postgresql://127.0.0.1:1,127.0.0.1:2/egress?connect_timeout=1";
  EXPECT_EQ(Database::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);

  options.conninfo = "not a conninfo";
  EXPECT_EQ(Database::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);

  // Asked for: accepted (then unreachable here).
  options.conninfo =
      "host=127.0.0.1,127.0.0.1 port=1,2 dbname=egress target_session_attrs=read-write "
      "connect_timeout=1";
  EXPECT_EQ(Database::Connect(options).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace egress
