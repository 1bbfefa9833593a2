// Runs the project's binaries from tests: one-shot commands with captured
// output, and long-running children that tests signal and wait for.
#ifndef EGRESS_TESTS_SUPPORT_SUBPROCESS_H_
#define EGRESS_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace egress::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with `argv`, waits at most `timeout` (then kills it).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(30));

// A child whose stdout and stderr are collected as it runs. The destructor
// kills it (SIGKILL) if it is still running; it also dies with the test
// process (PR_SET_PDEATHSIG).
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv);
  ~ChildProcess();

  // Reads output until a line of stdout starts with `prefix`; returns that
  // line. DEADLINE_EXCEEDED (with what was read) if not seen in time or if
  // the child exits first.
  absl::StatusOr<std::string> WaitForLine(const std::string& prefix, absl::Duration timeout);

  void Signal(int signal_number);
  // Waits for exit; returns the exit code (128+signal if killed), or
  // DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  ChildProcess() = default;
  // Moves available output into out_/err_; waits up to `timeout` for some.
  void Pump(absl::Duration timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string out_;
  std::string err_;
  size_t scanned_ = 0;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_SUBPROCESS_H_
