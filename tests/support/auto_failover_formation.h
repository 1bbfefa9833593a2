// A throwaway pg_auto_failover formation for failover tests: a monitor and
// two PostgreSQL 15 data nodes (a primary and a synchronous hot standby),
// each run by its own `pg_autoctl` on loopback TCP ports, in a fresh folder
// under /tmp.
//
// Each pg_autoctl is the leader of its own process group, so KillNode()
// takes a node down the way a crashed host goes: pg_autoctl, its postgres
// and every backend at once (SIGKILL to the group). Killing postgres alone
// would not fail over: the node's pg_autoctl restarts it in place.
//
// The destructor stops every group (SIGQUIT, pg_autoctl's immediate stop,
// then SIGKILL) and removes the folder. If the test process dies without
// running destructors, each pg_autoctl gets SIGQUIT (PR_SET_PDEATHSIG) and
// stops its postgres; the next formation started on the machine kills
// whatever postgres is left in folders whose test process is gone and
// removes them. As root, everything runs as the `postgres` user.
#ifndef EGRESS_TESTS_SUPPORT_AUTO_FAILOVER_FORMATION_H_
#define EGRESS_TESTS_SUPPORT_AUTO_FAILOVER_FORMATION_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace egress::testing {

struct AutoFailoverOptions {
  std::string pg_bin_dir = "/usr/lib/postgresql/15/bin";
  std::string pg_autoctl = "/usr/bin/pg_autoctl";
  // The database created on the data nodes.
  std::string dbname = "egress";
  // The monitor's health checks and the keepers' partition timeout
  // (docs/operations.md, "Database failover"). false: pg_auto_failover's
  // defaults (a failover then takes about 50 s).
  bool fast_failover = true;
};

class AutoFailoverFormation {
 public:
  // Creates the monitor, then node 0 (the first primary), then node 1 (its
  // standby), and returns once node 1 is a synchronous `secondary` and node
  // 0 a `primary`. FAILED_PRECONDITION if pg_autoctl is not installed.
  static absl::StatusOr<std::unique_ptr<AutoFailoverFormation>> Start(
      const AutoFailoverOptions& options = {});
  ~AutoFailoverFormation();

  // libpq string for the service: both data nodes, the writable one chosen
  // by libpq (target_session_attrs=read-write).
  std::string MultiHostConnectionString() const;
  // libpq string for data node `node` only (0 or 1), as the superuser.
  std::string NodeConnectionString(int node) const;

  // The node the monitor names primary (0 or 1), or an error.
  absl::StatusOr<int> Primary() const;
  // Waits until node `node` is the monitor's primary and accepts writes.
  absl::Status WaitForWritablePrimary(int node, absl::Duration timeout) const;

  // When node `node` last reported itself a writable primary after a
  // failover (state wait_primary), as the monitor recorded it.
  absl::StatusOr<absl::Time> PromotedAt(int node) const;

  // SIGKILL to node `node`'s whole process group (pg_autoctl, postgres and
  // its backends), then reaps it.
  absl::Status KillNode(int node);

  // The monitor's view (pg_autoctl show state) and its recent events, for
  // failure messages.
  std::string Describe() const;
  const std::string& root_dir() const { return root_dir_; }

 private:
  struct Process {
    pid_t pid = -1;  // also the process group
    std::string data_dir;
    int port = 0;
  };

  AutoFailoverFormation() = default;
  absl::StatusOr<pid_t> SpawnAutoctl(const std::vector<std::string>& args,
                                     const std::string& log_name) const;
  absl::Status StartMonitor();
  absl::Status StartNode(int node);
  std::string MonitorConnectionString() const;
  // Polls the monitor until node `node` reports `state` (and the monitor
  // assigned it), running `while_waiting` between polls.
  absl::Status WaitForState(int node, const std::string& state, absl::Duration timeout,
                            const std::function<void()>& while_waiting = nullptr) const;
  void StopGroup(Process* process);

  AutoFailoverOptions options_;
  std::string root_dir_;
  Process monitor_;
  Process nodes_[2];
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_AUTO_FAILOVER_FORMATION_H_
