// REJECT counting under load: refused attempts made vs. REJECTs recorded, and
// CPU per refused attempt, for the two ways egress-agent counts them, in the
// same run: the kernel's counting sets (--reject-source=kernel-sets) and
// NFLOG (--reject-source=nflog); plus a floor with the reject rules and no
// counting at all.
//
// A node and a remote namespace joined by veth (tests/netns/netns_env.h);
// the generator uids are accounts with block_all, so every TCP connect is
// refused by the reject chain (reset, ECONNREFUSED at once). --procs
// processes make --attempts refused connects in all, as fast as the machine
// allows, over --ports destination ports (distinct keys). The cost of the
// rules runs in the generator's own system time (the output hook runs in
// the sending process), so "cpu us/reject" is generator + agent CPU over
// the attempts, and the floor's figure is what rejecting alone costs; the
// machine's softirq time is shown too. Needs root.
//
//   build/bench/agent_reject_bench --attempts=200000 --procs=2 --ports=100
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/file_spool.h"
#include "agent/nft_script.h"
#include "common/command_line.h"
#include "tests/netns/netns_env.h"
#include "tests/support/subprocess.h"

ABSL_FLAG(int, attempts, 200000, "Refused TCP connects in each run.");
ABSL_FLAG(int, procs, 2, "Generator processes (one account uid each).");
ABSL_FLAG(int, ports, 100, "Destination ports each generator cycles through.");

namespace {

double ChildrenCpu() {
  rusage r = {};
  getrusage(RUSAGE_CHILDREN, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// Softirq jiffies of the whole machine (/proc/stat, field 7).
double SoftirqSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long v[8] = {};
  in >> cpu;
  for (long long& x : v) in >> x;
  return static_cast<double>(v[6]) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Forks the generators; returns (refused, other) when all are done.
std::pair<long, long> Generate(const std::string& ns, int procs, int attempts, int ports) {
  std::vector<pid_t> pids;
  std::vector<int> pipes;
  for (int p = 0; p < procs; ++p) {
    int fds[2];
    if (pipe(fds) != 0) return {0, 0};
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      const int fd = open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY);
      const uid_t uid = 5001 + p;
      if (setns(fd, CLONE_NEWNET) != 0 || setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) ||
          setresuid(uid, uid, uid)) {
        _exit(3);
      }
      sockaddr_in dst = {};
      dst.sin_family = AF_INET;
      inet_pton(AF_INET, egress::testing::kRemoteX, &dst.sin_addr);
      long refused = 0, other = 0;
      for (int i = p; i < attempts; i += procs) {
        dst.sin_port = htons(static_cast<uint16_t>(1 + (i / procs) % ports));
        const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(s, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0 &&
            errno == ECONNREFUSED) {
          ++refused;
        } else {
          ++other;
        }
        close(s);
      }
      const long out[2] = {refused, other};
      (void)!write(fds[1], out, sizeof(out));
      _exit(0);
    }
    close(fds[1]);
    pids.push_back(pid);
    pipes.push_back(fds[0]);
  }
  long refused = 0, other = 0;
  for (size_t i = 0; i < pids.size(); ++i) {
    long in[2] = {0, 0};
    (void)!read(pipes[i], in, sizeof(in));
    close(pipes[i]);
    waitpid(pids[i], nullptr, 0);
    refused += in[0];
    other += in[1];
  }
  return {refused, other};
}

struct RunResult {
  bool failed = false;
  double seconds = 0;
  double generator_cpu_s = 0;
  double agent_cpu_s = 0;
  double softirq_s = 0;
  long refused = 0;
  long other = 0;
  uint64_t recorded = 0;
};

uint64_t SpooledRejects(const std::string& spool_dir) {
  uint64_t n = 0;
  auto spool =
      egress::agent::FileSpool::Create({spool_dir, 1ull << 32, egress::agent::FsyncPolicy::kNever});
  uint64_t seq = 0;
  while (spool.ok()) {
    auto batch = (*spool)->NextAfter(seq);
    if (!batch.ok()) break;
    seq = batch->seq();
    for (const auto& r : batch->records()) {
      if (r.action() == egress::v1::ACTION_REJECT) n += r.count();
    }
  }
  return n;
}

// `source` empty: no agent (the floor), with `table` loaded by hand.
RunResult Run(const std::string& ns, const std::string& dir, const std::string& source) {
  RunResult result;
  std::filesystem::remove_all(dir + "/state/spool");
  egress::testing::RunCommand(
      {"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/nft", "delete", "table", "inet", "egress"});
  std::unique_ptr<egress::testing::ChildProcess> agent;
  if (source.empty()) {
    egress::testing::RunCommand(
        {"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/nft", "-f", dir + "/floor.nft"});
  } else {
    auto child = egress::testing::ChildProcess::Start(
        {"/usr/sbin/ip", "netns", "exec", ns, EGRESS_AGENT_PATH, "--node-id=bench",
         "--service=", "--state-dir=" + dir + "/state", "--spool-fsync=never",
         "--log-level=warning", "--reject-source=" + source, "--accept-source=conntrack"});
    if (!child.ok() || !(*child)->WaitForLine("egress-agent ready", absl::Seconds(20)).ok()) {
      std::fprintf(stderr, "agent did not start: %s\n", child.ok() ? (*child)->err().c_str() : "");
      result.failed = true;
      return result;
    }
    agent = std::move(*child);
  }
  const double cpu0 = ChildrenCpu();
  const double soft0 = SoftirqSeconds();
  const absl::Time start = absl::Now();
  auto [refused, other] = Generate(ns, absl::GetFlag(FLAGS_procs), absl::GetFlag(FLAGS_attempts),
                                   std::max(1, absl::GetFlag(FLAGS_ports)));
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu1 = ChildrenCpu();
  result.generator_cpu_s = cpu1 - cpu0;
  result.refused = refused;
  result.other = other;
  if (agent != nullptr) {
    // Kernel sets are read every batch interval (1 s): let the last
    // generation be read before the stop, as a running agent would.
    absl::SleepFor(absl::Milliseconds(2500));
    agent->Signal(SIGTERM);
    (void)agent->Wait(absl::Seconds(60));
    result.agent_cpu_s = ChildrenCpu() - cpu1;
    result.recorded = SpooledRejects(dir + "/state/spool");
  }
  result.softirq_s = SoftirqSeconds() - soft0;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "REJECT counting benchmark: kernel sets vs NFLOG.");
  auto net = egress::testing::NetnsPair::Create();
  if (!net.ok()) {
    std::fprintf(stderr, "%s\n", net.status().ToString().c_str());
    return 1;
  }
  const std::string ns = (*net)->node();
  char tmpl[] = "/tmp/egress-reject-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  egress::v1::RuleSet rules;
  rules.set_version(1);
  for (int p = 0; p < absl::GetFlag(FLAGS_procs); ++p) {
    auto* account = rules.add_accounts();
    account->set_uid(5001 + p);
    account->set_block_all(true);
  }
  {
    std::filesystem::create_directories(dir + "/state");
    std::ofstream(dir + "/state/rules.pb") << rules.SerializeAsString();
    // The floor: the same rules, NFLOG mode with no listener bound (the
    // kernel drops the copy at once): rejecting without counting.
    egress::agent::NftOptions floor;
    floor.count_rejects_in_kernel = false;
    floor.nflog_group = 999;
    std::ofstream(dir + "/floor.nft") << *egress::agent::RenderRuleSet(rules, floor);
  }
  egress::testing::RunCommand({"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/sysctl", "-qw",
                               "net.ipv4.ip_local_port_range=1024 65000"});
  const RunResult floor = Run(ns, dir, "");
  const RunResult nflog = Run(ns, dir, "nflog");
  const RunResult sets = Run(ns, dir, "kernel-sets");
  net->reset();
  std::filesystem::remove_all(dir);
  if (floor.failed || nflog.failed || sets.failed) return 1;
  std::printf("%-12s %9s %9s %9s %7s %11s %11s %11s %11s\n", "reject path", "refused", "recorded",
              "att/s", "lost", "gen us/att", "agent us/a", "total us/a", "softirq s");
  for (const auto& [name, r] : std::vector<std::pair<const char*, RunResult>>{
           {"no counting", floor}, {"nflog", nflog}, {"kernel-sets", sets}}) {
    const double n = static_cast<double>(std::max(1L, r.refused));
    std::printf("%-12s %9ld %9lu %9.0f %7ld %11.2f %11.2f %11.2f %11.2f\n", name, r.refused,
                r.recorded, static_cast<double>(r.refused) / r.seconds,
                r.refused - static_cast<long>(r.recorded), r.generator_cpu_s * 1e6 / n,
                r.agent_cpu_s * 1e6 / n, (r.generator_cpu_s + r.agent_cpu_s) * 1e6 / n,
                r.softirq_s);
    if (r.other != 0) std::printf("  (%ld attempts not refused)\n", r.other);
  }
  return 0;
}
