#include "tests/support/auto_failover_formation.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libpq-fe.h"
#include "pqxx/pqxx"
#include "tests/support/files.h"
#include "tests/support/postgres_user.h"

namespace egress::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kDirPrefix[] = "egress-paf-";

// The monitor's health checks and the failover timeouts the fast
// formation uses: a dead primary is noticed in about 3 s and its standby
// takes writes after primary_demote_timeout, which must stay above the
// keepers' network_partition_timeout (an isolated primary demotes itself
// after that long, so two primaries never take writes at once).
constexpr const char* kFastMonitorSettings[][2] = {
    {"pgautofailover.health_check_period", "1000"},
    {"pgautofailover.health_check_timeout", "1000"},
    {"pgautofailover.health_check_max_retries", "1"},
    {"pgautofailover.health_check_retry_delay", "500"},
    {"pgautofailover.node_considered_unhealthy_timeout", "3000"},
    {"pgautofailover.primary_demote_timeout", "8000"},
};
constexpr char kFastNetworkPartitionTimeout[] = "5";

// Folders of formations whose test process is gone: SIGKILL to whatever
// postgres still runs from them (the pid in postmaster.pid), then remove.
void SweepStaleFormations() {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/tmp", error)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, kDirPrefix)) continue;
    const std::string rest = name.substr(sizeof(kDirPrefix) - 1);
    int owner = 0;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('-')), &owner) || owner <= 0) continue;
    if (kill(owner, 0) == 0 || errno != ESRCH) continue;
    for (const char* data : {"monitor", "node0", "node1"}) {
      const std::string pid_file = ReadFileText(entry.path() / data / "postmaster.pid");
      int pid = 0;
      if (absl::SimpleAtoi(pid_file.substr(0, pid_file.find('\n')), &pid) && pid > 1) {
        kill(pid, SIGKILL);
      }
    }
    fs::remove_all(entry.path(), error);
  }
}

bool Exited(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AutoFailoverFormation>> AutoFailoverFormation::Start(
    const AutoFailoverOptions& options) {
  if (access(options.pg_autoctl.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.pg_autoctl,
                     " is missing: install postgresql-15-auto-failover (scripts/setup.sh does)"));
  }
  SweepStaleFormations();
  absl::StatusOr<RunAs> run_as = PostgresServerUser();
  if (!run_as.ok()) return run_as.status();

  std::unique_ptr<AutoFailoverFormation> formation(new AutoFailoverFormation());
  formation->options_ = options;
  std::string pattern = absl::StrCat("/tmp/", kDirPrefix, getpid(), "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  formation->root_dir_ = pattern;
  if (run_as->drop && chown(pattern.c_str(), run_as->uid, run_as->gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", pattern, ": ", strerror(errno)));
  }
  for (const char* sub : {"/config", "/share", "/run"}) {
    const std::string path = pattern + sub;
    if (mkdir(path.c_str(), 0700) != 0 ||
        (run_as->drop && chown(path.c_str(), run_as->uid, run_as->gid) != 0)) {
      return absl::InternalError(absl::StrCat("mkdir ", path, ": ", strerror(errno)));
    }
  }
  formation->monitor_.data_dir = pattern + "/monitor";
  formation->monitor_.port = FreeLoopbackTcpPort();
  for (int node = 0; node < 2; ++node) {
    formation->nodes_[node].data_dir = absl::StrCat(pattern, "/node", node);
    formation->nodes_[node].port = FreeLoopbackTcpPort();
  }
  if (absl::Status status = formation->StartMonitor(); !status.ok()) return status;
  for (int node = 0; node < 2; ++node) {
    if (absl::Status status = formation->StartNode(node); !status.ok()) return status;
  }
  // The primary goes from wait_primary to primary (synchronous replication
  // on) once the standby is a healthy secondary.
  if (absl::Status status = formation->WaitForState(0, "primary", absl::Seconds(60));
      !status.ok()) {
    return status;
  }
  return formation;
}

absl::StatusOr<pid_t> AutoFailoverFormation::SpawnAutoctl(const std::vector<std::string>& args,
                                                          const std::string& log_name) const {
  absl::StatusOr<RunAs> run_as = PostgresServerUser();
  if (!run_as.ok()) return run_as.status();
  std::vector<std::string> argv = {options_.pg_autoctl};
  argv.insert(argv.end(), args.begin(), args.end());
  // pg_autoctl keeps its configuration and state under XDG folders: keep
  // them in the formation's folder, and find pg_ctl through PATH.
  const std::vector<std::string> env = {
      absl::StrCat("PATH=", options_.pg_bin_dir, ":/usr/bin:/bin"),
      absl::StrCat("HOME=", root_dir_),
      absl::StrCat("XDG_CONFIG_HOME=", root_dir_, "/config"),
      absl::StrCat("XDG_DATA_HOME=", root_dir_, "/share"),
      absl::StrCat("XDG_RUNTIME_DIR=", root_dir_, "/run"),
      "LANG=C.UTF-8",
  };
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (const std::string& var : env) c_env.push_back(const_cast<char*>(var.c_str()));
  c_env.push_back(nullptr);
  const std::string log_path = absl::StrCat(root_dir_, "/", log_name);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      close(log);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (run_as->drop) {
      if (setgroups(0, nullptr) != 0 || setgid(run_as->gid) != 0 || setuid(run_as->uid) != 0) {
        _exit(126);
      }
    }
    // After setuid (a credential change clears it): pg_autoctl's immediate
    // stop, which takes its postgres down too.
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != parent) _exit(125);
    execve(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here: no window where a kill misses the group
  return pid;
}

std::string AutoFailoverFormation::MonitorConnectionString() const {
  return absl::StrCat("host=127.0.0.1 port=", monitor_.port,
                      " user=postgres dbname=pg_auto_failover connect_timeout=2");
}

std::string AutoFailoverFormation::NodeConnectionString(int node) const {
  return absl::StrCat("host=127.0.0.1 port=", nodes_[node].port,
                      " user=postgres dbname=", options_.dbname, " connect_timeout=2");
}

std::string AutoFailoverFormation::MultiHostConnectionString() const {
  return absl::StrCat("host=127.0.0.1,127.0.0.1 port=", nodes_[0].port, ",", nodes_[1].port,
                      " user=postgres dbname=", options_.dbname,
                      " target_session_attrs=read-write connect_timeout=2");
}

absl::Status AutoFailoverFormation::StartMonitor() {
  absl::StatusOr<pid_t> pid = SpawnAutoctl(
      {"create", "monitor", "--pgdata", monitor_.data_dir, "--pgport", absl::StrCat(monitor_.port),
       "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--run"},
      "monitor.log");
  if (!pid.ok()) return pid.status();
  monitor_.pid = *pid;
  // The monitor is ready once its extension answers.
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (true) {
    if (Exited(monitor_.pid)) {
      monitor_.pid = -1;
      return absl::InternalError(absl::StrCat("the pg_auto_failover monitor exited at start:\n",
                                              ReadFileText(root_dir_ + "/monitor.log")));
    }
    try {
      pqxx::connection connection(MonitorConnectionString());
      pqxx::nontransaction work(connection);
      work.exec("SELECT count(*) FROM pgautofailover.formation");
      if (options_.fast_failover) {
        for (const auto& [name, value] : kFastMonitorSettings) {
          work.exec(absl::StrCat("ALTER SYSTEM SET ", name, " = ", work.quote(value)));
        }
        work.exec("SELECT pg_reload_conf()");
      }
      return absl::OkStatus();
    } catch (const std::exception& error) {
      if (absl::Now() > give_up) {
        return absl::DeadlineExceededError(
            absl::StrCat("monitor not ready after 60 s: ", error.what(), "\n",
                         ReadFileText(root_dir_ + "/monitor.log")));
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status AutoFailoverFormation::StartNode(int node) {
  Process& process = nodes_[node];
  const std::string monitor_uri = absl::StrCat("postgres://autoctl_node@127.0.0.1:", monitor_.port,
                                               "/pg_auto_failover?sslmode=disable");
  absl::StatusOr<pid_t> pid = SpawnAutoctl(
      {"create", "postgres", "--pgdata", process.data_dir, "--pgport", absl::StrCat(process.port),
       "--hostname", "127.0.0.1", "--name", absl::StrCat("node", node), "--auth", "trust",
       "--no-ssl", "--dbname", options_.dbname, "--monitor", monitor_uri, "--run"},
      absl::StrCat("node", node, ".log"));
  if (!pid.ok()) return pid.status();
  process.pid = *pid;
  // The standby's pg_basebackup waits for a checkpoint on the primary, which
  // is spread over minutes by default; an immediate CHECKPOINT finishes it.
  std::function<void()> hurry_checkpoint;
  if (node == 1) {
    hurry_checkpoint = [this] {
      try {
        pqxx::connection connection(NodeConnectionString(0));
        pqxx::nontransaction(connection).exec("CHECKPOINT");
      } catch (const std::exception&) {
        // Retried at the next poll.
      }
    };
  }
  absl::Status state =
      WaitForState(node, node == 0 ? "single" : "secondary", absl::Seconds(90), hurry_checkpoint);
  if (!state.ok()) return state;
  if (options_.fast_failover) {
    absl::StatusOr<pid_t> set =
        SpawnAutoctl({"config", "set", "--pgdata", process.data_dir,
                      "timeout.network_partition_timeout", kFastNetworkPartitionTimeout},
                     absl::StrCat("node", node, "-config.log"));
    if (!set.ok()) return set.status();
    int status = 0;
    while (waitpid(*set, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return absl::InternalError(
          absl::StrCat("pg_autoctl config set failed:\n",
                       ReadFileText(absl::StrCat(root_dir_, "/node", node, "-config.log"))));
    }
  }
  return absl::OkStatus();
}

absl::Status AutoFailoverFormation::WaitForState(int node, const std::string& state,
                                                 absl::Duration timeout,
                                                 const std::function<void()>& while_waiting) const {
  const absl::Time give_up = absl::Now() + timeout;
  const std::string name = absl::StrCat("node", node);
  std::string last;
  while (true) {
    if (nodes_[node].pid > 0 && Exited(nodes_[node].pid)) {
      return absl::InternalError(
          absl::StrCat(name, "'s pg_autoctl exited:\n",
                       ReadFileText(absl::StrCat(root_dir_, "/node", node, ".log"))));
    }
    try {
      pqxx::connection connection(MonitorConnectionString());
      pqxx::nontransaction work(connection);
      const pqxx::result rows = work.exec_params(
          "SELECT reportedstate::text, goalstate::text FROM pgautofailover.node "
          "WHERE nodename = $1",
          name);
      if (!rows.empty()) {
        last = absl::StrCat(rows[0][0].as<std::string>(), " -> ", rows[0][1].as<std::string>());
        if (rows[0][0].as<std::string>() == state && rows[0][1].as<std::string>() == state) {
          return absl::OkStatus();
        }
      }
    } catch (const std::exception& error) {
      last = error.what();
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          name, " not ", state, " after ", absl::FormatDuration(timeout), " (last: ", last, ")\n",
          Describe(), "\n", ReadFileText(absl::StrCat(root_dir_, "/node", node, ".log"))));
    }
    if (while_waiting) while_waiting();
    absl::SleepFor(absl::Milliseconds(200));
  }
}

absl::StatusOr<int> AutoFailoverFormation::Primary() const {
  try {
    pqxx::connection connection(MonitorConnectionString());
    pqxx::nontransaction work(connection);
    const pqxx::result rows = work.exec(
        "SELECT nodename FROM pgautofailover.node "
        "WHERE goalstate IN ('primary', 'wait_primary', 'single') AND reportedstate = goalstate");
    if (rows.size() != 1) {
      return absl::UnavailableError(absl::StrCat(rows.size(), " primaries:\n", Describe()));
    }
    const std::string name = rows[0][0].as<std::string>();
    if (name == "node0") return 0;
    if (name == "node1") return 1;
    return absl::InternalError(absl::StrCat("unknown node ", name));
  } catch (const std::exception& error) {
    return absl::UnavailableError(error.what());
  }
}

absl::Status AutoFailoverFormation::WaitForWritablePrimary(int node, absl::Duration timeout) const {
  const absl::Time give_up = absl::Now() + timeout;
  std::string last;
  while (true) {
    absl::StatusOr<int> primary = Primary();
    if (primary.ok() && *primary == node) {
      try {
        pqxx::connection connection(NodeConnectionString(node));
        pqxx::nontransaction work(connection);
        if (work.exec("SHOW transaction_read_only")[0][0].as<std::string>() == "off") {
          return absl::OkStatus();
        }
        last = "read-only";
      } catch (const std::exception& error) {
        last = error.what();
      }
    } else {
      last = primary.ok() ? absl::StrCat("primary is node", *primary)
                          : std::string(primary.status().message());
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("node", node, " not a writable primary after ",
                       absl::FormatDuration(timeout), " (", last, ")\n", Describe()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<absl::Time> AutoFailoverFormation::PromotedAt(int node) const {
  try {
    pqxx::connection connection(MonitorConnectionString());
    pqxx::nontransaction work(connection);
    const pqxx::result rows = work.exec_params(
        "SELECT extract(epoch FROM max(eventtime))::float8 FROM pgautofailover.event "
        "WHERE nodename = $1 AND reportedstate = 'wait_primary' AND goalstate = 'wait_primary'",
        absl::StrCat("node", node));
    if (rows.empty() || rows[0][0].is_null()) {
      return absl::NotFoundError(absl::StrCat("node", node, " was never promoted"));
    }
    return absl::FromUnixNanos(static_cast<int64_t>(rows[0][0].as<double>() * 1e9));
  } catch (const std::exception& error) {
    return absl::UnavailableError(error.what());
  }
}

absl::Status AutoFailoverFormation::KillNode(int node) {
  Process& process = nodes_[node];
  if (process.pid <= 0) return absl::FailedPreconditionError("node not running");
  if (kill(-process.pid, SIGKILL) != 0) {
    return absl::InternalError(absl::StrCat("kill: ", strerror(errno)));
  }
  int status = 0;
  while (waitpid(process.pid, &status, 0) < 0 && errno == EINTR) {
  }
  process.pid = -1;
  return absl::OkStatus();
}

std::string AutoFailoverFormation::Describe() const {
  try {
    pqxx::connection connection(MonitorConnectionString());
    pqxx::nontransaction work(connection);
    std::string text = "monitor: nodes (name, reported, goal, health):\n";
    for (const pqxx::row& row :
         work.exec("SELECT nodename, reportedstate::text, goalstate::text, health "
                   "FROM pgautofailover.node ORDER BY nodeid")) {
      absl::StrAppend(&text, "  ", row[0].c_str(), " ", row[1].c_str(), " ", row[2].c_str(), " ",
                      row[3].c_str(), "\n");
    }
    absl::StrAppend(&text, "recent events:\n");
    for (const pqxx::row& row :
         work.exec("SELECT eventtime::text, description FROM pgautofailover.event "
                   "ORDER BY eventid DESC LIMIT 12")) {
      absl::StrAppend(&text, "  ", row[0].c_str(), " ", row[1].c_str(), "\n");
    }
    return text;
  } catch (const std::exception& error) {
    return absl::StrCat("monitor unreachable: ", error.what());
  }
}

void AutoFailoverFormation::StopGroup(Process* process) {
  if (process->pid <= 0) return;
  kill(-process->pid, SIGQUIT);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!Exited(process->pid)) {
    if (absl::Now() > give_up) {
      kill(-process->pid, SIGKILL);
      int status = 0;
      waitpid(process->pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Whatever of the group outlived its leader (postgres children).
  kill(-process->pid, SIGKILL);
  process->pid = -1;
}

AutoFailoverFormation::~AutoFailoverFormation() {
  for (Process& node : nodes_) StopGroup(&node);
  StopGroup(&monitor_);
  std::error_code error;
  if (!root_dir_.empty()) fs::remove_all(root_dir_, error);
}

}  // namespace egress::testing
