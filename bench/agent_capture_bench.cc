// Event capture under load: connections made vs. events recorded, CPU per
// event and peak RSS, for egress-agent (reading conntrack events, and with
// --accept-source=kernel-sets counting in the kernel's sets) and, in the
// same run, a bare libnetfilter_conntrack listener that only counts, ulogd2
// (NFCT input, hash_enable=0, NEW events only, GPRINT to a file) and a floor
// with the agent's table and nothing listening or counting.
//
// The kernel's share of counting runs in the generator's own system time
// (the output hook's rules and conntrack's event delivery run in the
// sending process), so "gen us/conn" is compared with the floor's: the
// counting cost of a path is its listener's CPU plus its generator CPU
// above the floor's.
//
// A node and a remote namespace joined by veth (tests/netns/netns_env.h);
// the agent's nftables table marks the connections of --procs accounts; a
// generator of --procs processes (one uid each) opens --connections short TCP
// connections (closed with RST, so no TIME_WAIT) to a listener in the remote
// namespace as fast as the machine allows. Needs root.
//
//   build/bench/agent_capture_bench --connections=100000 --procs=2
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/libnfnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/connection_event.h"
#include "agent/file_spool.h"
#include "agent/nft_script.h"
#include "common/command_line.h"
#include "tests/netns/netns_env.h"
#include "tests/support/subprocess.h"

ABSL_FLAG(int, connections, 100000, "TCP connections to open in each run.");
ABSL_FLAG(int, procs, 2, "Generator processes (one account uid each).");
ABSL_FLAG(int, rcvbuf, 16 << 20, "Receive buffer of both listeners, bytes.");
ABSL_FLAG(int, ports, 1,
          "Destination ports each generator cycles through (1: port 80 only). With --procs=2 and "
          "--ports=50000 the agent aggregates 100,000 distinct keys (uid, port): its peak RSS "
          "then includes the aggregator's memory. Closed ports answer with a reset; conntrack "
          "still reports the NEW connection.");
ABSL_FLAG(bool, hold_keys, false,
          "Run the agent with the largest batches it allows (--batch-max-records=50000, "
          "--batch-interval=1h), so its aggregator holds 50,000 distinct keys at once and the "
          "peak RSS includes them.");
ABSL_FLAG(bool, kernel_sets, true,
          "Also run egress-agent with --accept-source=kernel-sets (and the floor).");
ABSL_FLAG(bool, bare_listener, false, "Internal: run the bare listener (inside the namespace).");

namespace {

volatile sig_atomic_t g_stop = 0;
void OnTerm(int) { g_stop = 1; }

uint64_t g_events = 0;
int CountEvent(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void*) {
  if (nfct_get_attr_u32(ct, ATTR_MARK) & egress::agent::kAccountMarkBit) ++g_events;
  return NFCT_CB_CONTINUE;
}

// The bare listener: NEW events, the same kernel-side mark filter, count, nothing else.
int BareListener() {
  signal(SIGTERM, OnTerm);
  nfct_handle* h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW);
  if (h == nullptr) return 1;
  nfnl_rcvbufsiz(nfct_nfnlh(h), static_cast<unsigned>(absl::GetFlag(FLAGS_rcvbuf)));
  nfct_filter* filter = nfct_filter_create();
  nfct_filter_dump_mark mark{egress::agent::kAccountMarkBit, egress::agent::kAccountMarkBit};
  nfct_filter_add_attr(filter, NFCT_FILTER_MARK, &mark);
  nfct_filter_attach(nfct_fd(h), filter);
  nfct_filter_destroy(filter);
  nfct_callback_register(h, NFCT_T_NEW, CountEvent, nullptr);
  fcntl(nfct_fd(h), F_SETFL, O_NONBLOCK);
  uint64_t overruns = 0;
  std::printf("bare listener ready\n");
  std::fflush(stdout);
  while (true) {
    pollfd p = {nfct_fd(h), POLLIN, 0};
    poll(&p, 1, 100);
    while (nfct_catch(h) < 0 && errno == ENOBUFS) ++overruns;
    if (g_stop) {
      while (nfct_catch(h) >= 0 || errno == ENOBUFS) {
      }
      break;
    }
  }
  std::printf("events=%llu overruns=%llu\n", static_cast<unsigned long long>(g_events),
              static_cast<unsigned long long>(overruns));
  return 0;
}

struct Usage {
  double cpu_s = 0;
};
Usage ChildrenUsage() {
  rusage r = {};
  getrusage(RUSAGE_CHILDREN, &r);
  return Usage{static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
               static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6};
}

long VmHwmKb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Forks `procs` generators; returns when all are done.
void Generate(const std::string& ns, int procs, int connections, int ports) {
  std::vector<pid_t> pids;
  for (int p = 0; p < procs; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY);
      const uid_t uid = 5001 + p;
      if (setns(fd, CLONE_NEWNET) != 0 || setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) ||
          setresuid(uid, uid, uid)) {
        _exit(3);
      }
      sockaddr_in dst = {};
      dst.sin_family = AF_INET;
      dst.sin_port = htons(80);
      inet_pton(AF_INET, egress::testing::kRemoteX, &dst.sin_addr);
      const linger reset = {1, 0};
      for (int i = p; i < connections; i += procs) {
        if (ports > 1) dst.sin_port = htons(static_cast<uint16_t>(1 + (i / procs) % ports));
        const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        connect(s, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
        close(s);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
}

struct RunResult {
  bool failed = false;
  double seconds = 0;
  double generator_cpu_s = 0;
  double listener_cpu_s = 0;
  uint64_t events = 0;
  long hwm_kb = 0;
};

// What the floor runs instead of a listener.
constexpr const char* kNothing = "none";

RunResult Run(const std::string& ns, std::vector<std::string> argv, const std::string& ready,
              const std::string& spool_dir) {
  RunResult result;
  auto child = egress::testing::ChildProcess::Start(argv);
  if (!child.ok() || !(*child)->WaitForLine(ready, absl::Seconds(20)).ok()) {
    std::fprintf(stderr, "listener did not start: %s\n", child.ok() ? (*child)->err().c_str() : "");
    result.failed = true;  // the caller still removes the namespaces
    return result;
  }
  const int connections = absl::GetFlag(FLAGS_connections);
  const Usage a = ChildrenUsage();
  const absl::Time start = absl::Now();
  Generate(ns, absl::GetFlag(FLAGS_procs), connections,
           std::clamp(absl::GetFlag(FLAGS_ports), 1, 65000));
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const Usage b = ChildrenUsage();
  result.generator_cpu_s = b.cpu_s - a.cpu_s;
  result.hwm_kb = VmHwmKb((*child)->pid());
  // The kernel's sets are read every batch interval (1 s): let the last
  // generation be read before the stop, as a running agent would; the
  // other listeners idle meanwhile.
  absl::SleepFor(absl::Milliseconds(2500));
  (*child)->Signal(SIGTERM);
  (void)(*child)->Wait(absl::Seconds(60));
  result.listener_cpu_s = ChildrenUsage().cpu_s - b.cpu_s;
  // Overruns and recoveries, as the listener logged them.
  std::istringstream err((*child)->err());
  for (std::string line; std::getline(err, line);) {
    if (line.find("overrun") != std::string::npos) std::fprintf(stderr, "  %s\n", line.c_str());
  }
  if (spool_dir == kNothing) {
    // the floor: nothing recorded
  } else if (spool_dir.rfind("lines:", 0) == 0) {
    std::ifstream in(spool_dir.substr(6));
    std::string line;
    while (std::getline(in, line)) ++result.events;
  } else if (spool_dir.empty()) {
    std::sscanf((*child)->out().c_str() + (*child)->out().find("events="), "events=%lu",
                &result.events);
  } else {
    auto spool = egress::agent::FileSpool::Create(
        {spool_dir, 1ull << 32, egress::agent::FsyncPolicy::kNever});
    uint64_t seq = 0;
    while (spool.ok()) {
      auto batch = (*spool)->NextAfter(seq);
      if (!batch.ok()) break;
      seq = batch->seq();
      for (const auto& r : batch->records()) result.events += r.count();
    }
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "Event capture benchmark: egress-agent vs a bare listener.");
  if (absl::GetFlag(FLAGS_bare_listener)) return BareListener();
  auto net = egress::testing::NetnsPair::Create();
  if (!net.ok()) {
    std::fprintf(stderr, "%s\n", net.status().ToString().c_str());
    return 1;
  }
  const std::string ns = (*net)->node();
  auto listener = egress::testing::RemoteListener::Start(
      (*net)->remote(), egress::testing::RemoteListener::Kind::kTcp, 80);
  if (!listener.ok()) return 1;
  char tmpl[] = "/tmp/egress-capture-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);

  // The agent's table with the generator uids as accounts, for the bare run
  // (the agent installs its own from the persisted copy).
  egress::v1::RuleSet rules;
  rules.set_version(1);
  for (int p = 0; p < absl::GetFlag(FLAGS_procs); ++p) rules.add_accounts()->set_uid(5001 + p);
  {
    std::ofstream(dir + "/rules.nft") << *egress::agent::RenderRuleSet(rules, {});
    std::filesystem::create_directories(dir + "/state");
    std::ofstream(dir + "/state/rules.pb") << rules.SerializeAsString();
  }
  egress::testing::RunCommand(
      {"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/nft", "-f", dir + "/rules.nft"});
  egress::testing::RunCommand({"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/sysctl", "-qw",
                               "net.ipv4.ip_local_port_range=1024 65000"});
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string rcvbuf = absl::StrCat(absl::GetFlag(FLAGS_rcvbuf));
  const RunResult bare =
      Run(ns, {"/usr/sbin/ip", "netns", "exec", ns, self, "--bare-listener", "--rcvbuf=" + rcvbuf},
          "bare listener ready", "");
  std::vector<std::string> agent_argv = {"/usr/sbin/ip",
                                         "netns",
                                         "exec",
                                         ns,
                                         EGRESS_AGENT_PATH,
                                         "--node-id=bench",
                                         "--service=",
                                         "--state-dir=" + dir + "/state",
                                         "--spool-fsync=never",
                                         "--log-level=warning",
                                         "--accept-source=conntrack",
                                         "--conntrack-rcvbuf=" + rcvbuf};
  if (absl::GetFlag(FLAGS_hold_keys)) {
    agent_argv.push_back("--batch-max-records=50000");
    agent_argv.push_back("--batch-interval=1h");
  }
  const RunResult agent = Run(ns, agent_argv, "egress-agent ready", dir + "/state/spool");
  // ulogd2 2.0.8: its own buffer settings; a shell waits for its "event mode"
  // log line, then passes SIGTERM on (its CPU reaches us through the shell).
  std::ofstream(dir + "/ulogd.conf")
      << "[global]\nlogfile=\"" << dir << "/ulogd.log\"\nloglevel=5\n"
      << "plugin=\"/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inpflow_NFCT.so\"\n"
      << "plugin=\"/usr/lib/x86_64-linux-gnu/ulogd/ulogd_filter_IP2STR.so\"\n"
      << "plugin=\"/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_GPRINT.so\"\n"
      << "stack=ct1:NFCT,ip2str1:IP2STR,gp1:GPRINT\n\n[ct1]\nhash_enable=0\nevent_mask=1\n"
      << "netlink_socket_buffer_size=" << rcvbuf
      << "\nnetlink_socket_buffer_maxsize=" << 2 * absl::GetFlag(FLAGS_rcvbuf)
      << "\n\n[gp1]\nfile=\"" << dir << "/ulogd.out\"\nsync=0\n";
  const std::string ulogd_script = absl::StrCat(
      "/usr/sbin/ulogd -c ", dir, "/ulogd.conf & pid=$!; trap 'kill -TERM $pid' TERM; ",
      "until grep -q 'working in event mode' ", dir,
      "/ulogd.log 2>/dev/null; do sleep 0.05; done; ", "echo ulogd ready; wait $pid; wait $pid");
  const bool have_ulogd = std::filesystem::exists("/usr/sbin/ulogd");
  RunResult ulogd;
  if (have_ulogd) {
    ulogd = Run(ns, {"/usr/sbin/ip", "netns", "exec", ns, "/bin/sh", "-c", ulogd_script},
                "ulogd ready", "lines:" + dir + "/ulogd.out");
    ulogd.hwm_kb = -1;  // that was the wrapper shell's
  }
  // Last, so that no other run has the accept counting rules in its table
  // (each agent run installs its table from the persisted rules).
  RunResult floor, sets;
  if (absl::GetFlag(FLAGS_kernel_sets)) {
    std::filesystem::remove_all(dir + "/state/spool");
    std::vector<std::string> sets_argv = agent_argv;
    sets_argv.push_back("--accept-source=kernel-sets");  // the last one wins
    sets = Run(ns, sets_argv, "egress-agent ready", dir + "/state/spool");
    // The floor: the agent's table (conntrack mode) and nothing reading.
    egress::testing::RunCommand(
        {"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/nft", "-f", dir + "/rules.nft"});
    floor = Run(ns, {"/bin/sh", "-c", "echo floor ready; exec sleep 600"}, "floor ready", kNothing);
  }
  if (bare.failed || agent.failed || ulogd.failed || floor.failed || sets.failed) {
    listener->reset();
    net->reset();
    std::filesystem::remove_all(dir);
    return 1;
  }
  const int n = absl::GetFlag(FLAGS_connections);
  const bool with_floor = absl::GetFlag(FLAGS_kernel_sets);
  std::printf("%-20s %11s %9s %8s %7s %12s %12s %12s %10s\n", "listener", "connections", "recorded",
              "conn/s", "lost", "cpu us/event", "gen us/conn", "count us/con", "peak RSS");
  std::vector<std::pair<const char*, RunResult>> rows = {{"bare listener", bare},
                                                         {"egress-agent", agent}};
  if (have_ulogd) rows.push_back({"ulogd2", ulogd});
  if (with_floor) {
    rows.push_back({"egress-agent k-sets", sets});
    rows.push_back({"floor (no listener)", floor});
  }
  // Counting cost per connection: the listener's CPU plus the generator's
  // above the floor's (the kernel's share).
  const auto counting = [&](const RunResult& r) {
    return (r.listener_cpu_s + (with_floor ? r.generator_cpu_s - floor.generator_cpu_s : 0)) * 1e6 /
           n;
  };
  for (const auto& [name, r] : rows) {
    const std::string rss = r.hwm_kb < 0 ? "n/a" : absl::StrCat(r.hwm_kb, " KiB");
    std::printf(
        "%-20s %11d %9lu %8.0f %7ld %12.2f %12.2f %12.2f %10s\n", name, n, r.events, n / r.seconds,
        absl::StartsWith(name, "floor") ? 0L : static_cast<long>(n) - static_cast<long>(r.events),
        r.events ? r.listener_cpu_s * 1e6 / static_cast<double>(r.events) : 0.0,
        r.generator_cpu_s * 1e6 / n, counting(r), rss.c_str());
  }
  const auto per_event = [](const RunResult& r) {
    return r.listener_cpu_s / static_cast<double>(r.events);
  };
  std::printf("agent/bare CPU per event: %.2f\n", per_event(agent) / per_event(bare));
  if (have_ulogd)
    std::printf("agent/ulogd2 CPU per event: %.2f\n", per_event(agent) / per_event(ulogd));
  if (with_floor) {
    std::printf("kernel-sets/bare counting cost per connection: %.2f\n",
                counting(sets) / counting(bare));
  }
  listener->reset();
  net->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
