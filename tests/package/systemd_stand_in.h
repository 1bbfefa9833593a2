// Stands in for systemd, which is not PID 1 on the test machines, while the
// package test installs, upgrades, removes and purges the Debian packages:
//
//  - dpkg runs with a `systemctl` of ours first on PATH and, in a private
//    mount namespace, a /run/systemd/system directory: the maintainer
//    scripts that debhelper generated take their systemd branch
//    (deb-systemd-invoke start/restart/stop, daemon-reload) as on a systemd
//    host, without this host's /run seeing it (nor the policy-rc.d that
//    allows every start there, where a container image's forbids them);
//  - each start, stop or restart they ask for is carried out here while the
//    maintainer script waits, as systemctl waits for its job, from the unit
//    file installed at that moment: Condition(Path)Exists=, User=, Group=,
//    DynamicUser= (run as nobody), Environment=, EnvironmentFile=,
//    StateDirectory=, RuntimeDirectory=, ExecStart=, KillSignal=,
//    TimeoutStopSec=. Sandboxing options are not applied (tests/deploy
//    checks the units with systemd-analyze verify);
//  - every unit runs inside network namespace `netns` (the test's node),
//    stdout to a pipe (ChildProcess), stderr appended to <dir>/<unit>.log.
//
// Not thread-safe; one per test. The destructor stops what it started.
#ifndef EGRESS_TESTS_PACKAGE_SYSTEMD_STAND_IN_H_
#define EGRESS_TESTS_PACKAGE_SYSTEMD_STAND_IN_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/subprocess.h"

namespace egress::testing {

class SystemdStandIn {
 public:
  // `dir` must exist; the stand-in keeps its systemctl, its request files
  // and the units' logs there.
  static absl::StatusOr<std::unique_ptr<SystemdStandIn>> Create(const std::string& dir,
                                                                const std::string& netns);
  ~SystemdStandIn();

  // Runs `dpkg args...` (in the network namespace, with our systemctl),
  // serving the maintainer scripts' start/stop/restart requests as they
  // come. exit_code -1 on timeout.
  CommandResult Dpkg(const std::vector<std::string>& args,
                     absl::Duration timeout = absl::Minutes(3));

  // `systemctl start|stop|restart UNIT`. A unit whose conditions fail is not
  // started, and that is not an error (as with systemd); Start of a running
  // unit does nothing.
  absl::Status Start(const std::string& unit);
  absl::Status Stop(const std::string& unit);
  absl::Status Restart(const std::string& unit);

  // Running: started and not exited since.
  bool Running(const std::string& unit);
  // The unit's process while it runs, else nullptr.
  ChildProcess* Process(const std::string& unit);
  // The unit's stderr over all its runs.
  std::string Log(const std::string& unit) const;
  // The requests served for the maintainer scripts since the last call,
  // "verb unit" in order ("start egress-agent.service").
  std::vector<std::string> TakeRequests();
  // Every systemctl command line the maintainer scripts ran, one per line.
  std::string Calls() const;

 private:
  SystemdStandIn() = default;
  void Serve();
  std::string SystemctlScript() const;

  std::string dir_;
  std::string netns_;
  bool created_run_systemd_ = false;
  std::map<std::string, std::unique_ptr<ChildProcess>> running_;
  std::map<std::string, std::vector<std::string>> runtime_dirs_;
  std::vector<std::string> requests_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_PACKAGE_SYSTEMD_STAND_IN_H_
