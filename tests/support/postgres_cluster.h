// A throwaway PostgreSQL cluster for tests: initdb into a fresh temporary
// folder, the server listening on a unix socket inside it (no TCP port to
// collide with parallel tests), settings tuned for speed (fsync off), and
// everything stopped and removed by the destructor.
//
// If the test process dies without running destructors, the server still
// stops: it gets SIGQUIT when its parent dies (PR_SET_PDEATHSIG), and the
// next cluster started on the machine removes folders whose owner is gone.
// As root, initdb and postgres run as the `postgres` user (they refuse root).
#ifndef EGRESS_TESTS_SUPPORT_POSTGRES_CLUSTER_H_
#define EGRESS_TESTS_SUPPORT_POSTGRES_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace egress::testing {

struct PostgresClusterOptions {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  // Also listen on 127.0.0.1 at a free TCP port (for clients that need TCP).
  bool tcp = false;
  // fsync and full-page writes on, production-like buffers (benchmarks);
  // off by default, since tests need speed, not durability.
  bool durable = false;
};

class PostgresCluster {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(
      const PostgresClusterOptions& options = {});
  ~PostgresCluster();

  // libpq key=value string for `dbname` as the superuser.
  std::string ConnectionString(const std::string& dbname) const;
  // Creates a database (as a copy of `template_name` if not empty).
  absl::Status CreateDatabase(const std::string& name, const std::string& template_name = "");

  // Stops the server (fast shutdown) keeping its data; Resume() starts it
  // again on the same socket and port. For outage tests.
  absl::Status StopServer();
  absl::Status StartServer();

  const std::string& socket_dir() const { return socket_dir_; }
  int tcp_port() const { return tcp_port_; }
  pid_t server_pid() const { return server_pid_; }

 private:
  PostgresCluster() = default;

  PostgresClusterOptions options_;
  std::string root_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  int tcp_port_ = 0;
  pid_t server_pid_ = -1;
};

// One cluster per test binary, started on first use, with a database
// `egress_template` migrated to the current schema. Stopped at exit.
PostgresCluster& SharedCluster();

// Creates a new database cloned from the migrated template (milliseconds)
// and returns its connection string.
std::string FreshDatabase();

// Every row of every table in the database's public schema as sorted text,
// for asserting that a rejected call changed nothing.
std::string DumpAllTables(const std::string& conninfo);

// SQL that fills account_day_totals from the connection_daily rows a test
// inserted by hand, as ingest keeps it (totals and row counts per action).
inline constexpr char kDayTotalsFromRowsSql[] = R"sql(
  INSERT INTO account_day_totals
    (account_id, day, accepted, rejected, accepted_rows, rejected_rows)
  SELECT account_id, day, coalesce(sum(count) FILTER (WHERE action = 1), 0),
         coalesce(sum(count) FILTER (WHERE action = 2), 0),
         count(*) FILTER (WHERE action = 1), count(*) FILTER (WHERE action = 2)
    FROM connection_daily GROUP BY account_id, day;)sql";

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_POSTGRES_CLUSTER_H_
