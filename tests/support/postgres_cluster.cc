#include "tests/support/postgres_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libpq-fe.h"
#include "pqxx/pqxx"
#include "service/storage/database.h"
#include "service/storage/migrations.h"
#include "tests/support/files.h"
#include "tests/support/postgres_user.h"

namespace egress::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kDirPrefix[] = "egress-pg-";
constexpr char kTemplateDb[] = "egress_template";

// The cluster behind SharedCluster(), deleted by an atexit handler.
PostgresCluster* shared_cluster = nullptr;
void StopSharedCluster() {
  delete shared_cluster;
  shared_cluster = nullptr;
}

// Forks and execs `argv` as `run_as`, output appended to `log_path`. The
// child gets SIGQUIT (PostgreSQL's immediate shutdown) if we die.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const RunAs& run_as,
                            const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      close(log);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (run_as.drop) {
      if (setgroups(0, nullptr) != 0 || setgid(run_as.gid) != 0 || setuid(run_as.uid) != 0) {
        _exit(126);
      }
    }
    // After setuid: a credential change clears the parent-death signal.
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != parent) _exit(125);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

absl::Status RunToCompletion(const std::vector<std::string>& argv, const RunAs& run_as,
                             const std::string& log_path) {
  absl::StatusOr<pid_t> pid = Spawn(argv, run_as, log_path);
  if (!pid.ok()) return pid.status();
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat(argv[0], " failed (status ", status, "):\n", ReadFileText(log_path)));
  }
  return absl::OkStatus();
}

// Removes cluster folders left by test processes that no longer exist.
void SweepStaleClusters() {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/tmp", error)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, kDirPrefix)) continue;
    const std::string rest = name.substr(sizeof(kDirPrefix) - 1);
    int pid = 0;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('-')), &pid) || pid <= 0) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), error);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(
    const PostgresClusterOptions& options) {
  SweepStaleClusters();
  absl::StatusOr<RunAs> run_as = PostgresServerUser();
  if (!run_as.ok()) return run_as.status();

  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  cluster->options_ = options;
  std::string pattern = absl::StrCat("/tmp/", kDirPrefix, getpid(), "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  cluster->root_dir_ = pattern;
  cluster->data_dir_ = pattern + "/data";
  cluster->socket_dir_ = pattern;
  if (run_as->drop && chown(pattern.c_str(), run_as->uid, run_as->gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", pattern, ": ", strerror(errno)));
  }
  absl::Status init = RunToCompletion(
      {options.bin_dir + "/initdb", "-D", cluster->data_dir_, "-U", "postgres", "-A", "trust", "-E",
       "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"},
      *run_as, cluster->root_dir_ + "/initdb.log");
  if (!init.ok()) return init;
  if (options.tcp) cluster->tcp_port_ = FreeLoopbackTcpPort();
  absl::Status started = cluster->StartServer();
  if (!started.ok()) return started;
  return cluster;
}

absl::Status PostgresCluster::StartServer() {
  absl::StatusOr<RunAs> run_as = PostgresServerUser();
  if (!run_as.ok()) return run_as.status();
  const std::string port = absl::StrCat(tcp_port_ == 0 ? 5432 : tcp_port_);
  const std::string listen = tcp_port_ == 0 ? "listen_addresses=" : "listen_addresses=127.0.0.1";
  std::vector<std::string> argv = {options_.bin_dir + "/postgres",
                                   "-D",
                                   data_dir_,
                                   "-k",
                                   socket_dir_,
                                   "-p",
                                   port,
                                   "-c",
                                   listen,
                                   "-c",
                                   "max_connections=200",
                                   "-c",
                                   "log_min_messages=warning",
                                   "-c",
                                   "log_min_error_statement=panic",
                                   "-c",
                                   "autovacuum=off"};
  if (options_.durable) {
    // As in production: what benchmarks measure.
    for (const char* setting : {"shared_buffers=256MB", "max_wal_size=4GB"}) {
      argv.insert(argv.end(), {"-c", setting});
    }
  } else {
    for (const char* setting :
         {"fsync=off", "synchronous_commit=off", "full_page_writes=off", "shared_buffers=64MB"}) {
      argv.insert(argv.end(), {"-c", setting});
    }
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, *run_as, root_dir_ + "/postgres.log");
  if (!pid.ok()) return pid.status();
  server_pid_ = *pid;
  const std::string ping = ConnectionString("postgres");
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (PQping(ping.c_str()) != PQPING_OK) {
    int status = 0;
    if (waitpid(server_pid_, &status, WNOHANG) == server_pid_) {
      server_pid_ = -1;
      return absl::InternalError(
          absl::StrCat("postgres exited at start:\n", ReadFileText(root_dir_ + "/postgres.log")));
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat("postgres not ready after 60 s:\n",
                                                      ReadFileText(root_dir_ + "/postgres.log")));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

absl::Status PostgresCluster::StopServer() {
  if (server_pid_ <= 0) return absl::OkStatus();
  kill(server_pid_, SIGINT);  // fast shutdown: abort sessions, checkpoint, exit
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  int status = 0;
  while (waitpid(server_pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(server_pid_, SIGKILL);
      waitpid(server_pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  server_pid_ = -1;
  return absl::OkStatus();
}

PostgresCluster::~PostgresCluster() {
  (void)StopServer();
  std::error_code error;
  if (!root_dir_.empty()) fs::remove_all(root_dir_, error);
}

std::string PostgresCluster::ConnectionString(const std::string& dbname) const {
  return absl::StrCat("host=", socket_dir_, " port=", tcp_port_ == 0 ? 5432 : tcp_port_,
                      " user=postgres dbname=", dbname);
}

absl::Status PostgresCluster::CreateDatabase(const std::string& name,
                                             const std::string& template_name) {
  try {
    pqxx::connection connection(ConnectionString("postgres"));
    pqxx::nontransaction work(connection);
    std::string sql = absl::StrCat("CREATE DATABASE ", work.quote_name(name));
    if (!template_name.empty()) absl::StrAppend(&sql, " TEMPLATE ", work.quote_name(template_name));
    work.exec(sql);
    return absl::OkStatus();
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("CREATE DATABASE ", name, ": ", error.what()));
  }
}

PostgresCluster& SharedCluster() {
  static PostgresCluster* const cluster = [] {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> started = PostgresCluster::Start();
    if (!started.ok()) {
      // Fail loudly: a db test must never pass without its database.
      fprintf(stderr, "cannot start the test PostgreSQL cluster: %s\n",
              std::string(started.status().message()).c_str());
      std::abort();
    }
    absl::Status created = (*started)->CreateDatabase(kTemplateDb);
    if (created.ok()) {
      DatabaseOptions db_options;
      db_options.conninfo = (*started)->ConnectionString(kTemplateDb);
      db_options.pool_size = 1;
      absl::StatusOr<std::unique_ptr<Database>> database = Database::Connect(db_options);
      created = database.status();
      if (database.ok()) {
        created = ApplyMigrations(**database, EmbeddedMigrations()).status();
      }
    }
    if (!created.ok()) {
      fprintf(stderr, "cannot prepare the template database: %s\n",
              std::string(created.message()).c_str());
      std::abort();
    }
    shared_cluster = started->release();
    // Stopped at exit; the parent-death signal covers crashes.
    std::atexit(StopSharedCluster);
    return shared_cluster;
  }();
  return *cluster;
}

std::string FreshDatabase() {
  static std::atomic<int> counter{0};
  PostgresCluster& cluster = SharedCluster();
  const std::string name = absl::StrCat("test_", ++counter);
  absl::Status created = cluster.CreateDatabase(name, kTemplateDb);
  if (!created.ok()) {
    fprintf(stderr, "%s\n", std::string(created.message()).c_str());
    std::abort();
  }
  return cluster.ConnectionString(name);
}

std::string DumpAllTables(const std::string& conninfo) {
  pqxx::connection connection(conninfo);
  pqxx::nontransaction work(connection);
  std::string dump;
  for (const pqxx::row& table :
       work.exec("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                 "ORDER BY tablename")) {
    const std::string name = table[0].as<std::string>();
    absl::StrAppend(&dump, "== ", name, "\n");
    for (const pqxx::row& row :
         work.exec(absl::StrCat("SELECT t::text FROM ", name, " t ORDER BY 1"))) {
      absl::StrAppend(&dump, row[0].as<std::string>(), "\n");
    }
  }
  return dump;
}

}  // namespace egress::testing
