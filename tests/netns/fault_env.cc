#include "tests/netns/fault_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "pqxx/pqxx"
#include "tests/support/files.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

namespace v1 = ::egress::v1;
constexpr char kIp[] = "/usr/sbin/ip";

absl::Status Run(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv, absl::Seconds(20));
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(absl::StrJoin(argv, " "), " failed (", r.exit_code, "): ", r.err));
  }
  return absl::OkStatus();
}

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", s.error_code(), " ", s.error_message()));
}

// Runs argv in `ns` through /bin/sh so that stderr goes to `log` (appended):
// a child nobody reads from must never block on a full pipe. `exec` keeps
// one pid from sh to the program (ip netns exec execs it too).
absl::StatusOr<std::unique_ptr<ChildProcess>> StartIn(const std::string& ns,
                                                      const std::vector<std::string>& argv,
                                                      const std::string& log) {
  std::string command = absl::StrCat("exec ", kIp, " netns exec ", ns);
  for (const std::string& arg : argv) absl::StrAppend(&command, " '", arg, "'");
  absl::StrAppend(&command, " 2>>'", log, "'");
  return ChildProcess::Start({"/bin/sh", "-c", command});
}

}  // namespace

// ---------------------------------------------------------------- Traffic

absl::StatusOr<std::unique_ptr<Traffic>> Traffic::Start(const TrafficSpec& spec) {
  sockaddr_storage dst = {};
  socklen_t dst_len = 0;
  int domain = AF_INET;
  if (inet_pton(AF_INET, spec.ip.c_str(), &reinterpret_cast<sockaddr_in*>(&dst)->sin_addr) == 1) {
    dst.ss_family = AF_INET;
    dst_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, spec.ip.c_str(),
                       &reinterpret_cast<sockaddr_in6*>(&dst)->sin6_addr) == 1) {
    dst.ss_family = AF_INET6;
    dst_len = sizeof(sockaddr_in6);
    domain = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad ip ", spec.ip));
  }
  void* memory =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return absl::InternalError("mmap");
  std::unique_ptr<Traffic> traffic(new Traffic());
  traffic->shared_ = new (memory) Shared{};
  const int ns_fd = open(absl::StrCat("/run/netns/", spec.ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) return absl::InternalError(absl::StrCat("open netns ", spec.ns));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(2);
    Shared* s = traffic->shared_;
    if (setns(ns_fd, CLONE_NEWNET) != 0 || setgroups(0, nullptr) != 0 ||
        setresgid(spec.uid, spec.uid, spec.uid) != 0 ||
        setresuid(spec.uid, spec.uid, spec.uid) != 0) {
      _exit(3);
    }
    const timespec pause_step = {0, 2'000'000};
    const int64_t interval_ns = absl::ToInt64Nanoseconds(spec.interval);
    const timespec step = {static_cast<time_t>(interval_ns / 1'000'000'000),
                           static_cast<long>(interval_ns % 1'000'000'000)};
    uint64_t i = 0;
    while (s->stop.load() == 0) {
      if (s->pause.load() != 0) {
        s->paused.store(1);
        nanosleep(&pause_step, nullptr);
        continue;
      }
      uint16_t port = spec.port;
      if (spec.vary_port) port = static_cast<uint16_t>(spec.port + i % 60000);
      if (domain == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&dst)->sin_port = htons(port);
      } else {
        reinterpret_cast<sockaddr_in6*>(&dst)->sin6_port = htons(port);
      }
      const int sock =
          spec.icmp ? socket(domain, SOCK_DGRAM | SOCK_CLOEXEC,
                             domain == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6})
                    : socket(domain, (spec.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
      if (sock < 0) _exit(4);
      int rc;
      if (spec.icmp) {
        // Echo request; the kernel sets the identifier (the socket's "port").
        unsigned char echo[16] = {static_cast<unsigned char>(domain == AF_INET ? 8 : 128), 0};
        echo[6] = static_cast<unsigned char>(i >> 8);
        echo[7] = static_cast<unsigned char>(i);
        rc = sendto(sock, echo, sizeof(echo), 0, reinterpret_cast<sockaddr*>(&dst), dst_len) < 0
                 ? -1
                 : 0;
      } else if (spec.tcp) {
        rc = connect(sock, reinterpret_cast<sockaddr*>(&dst), dst_len);
      } else {
        // A new source port per attempt (per 60,000 attempts when the
        // destination port varies), so every attempt is a new flow.
        const uint64_t n = spec.vary_port ? i / 60000 : i;
        sockaddr_storage src = {};
        src.ss_family = static_cast<sa_family_t>(domain);
        const uint16_t sport = htons(static_cast<uint16_t>(spec.udp_source_base + n % 30000));
        if (domain == AF_INET) {
          reinterpret_cast<sockaddr_in*>(&src)->sin_port = sport;
        } else {
          reinterpret_cast<sockaddr_in6*>(&src)->sin6_port = sport;
        }
        const int one = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(sock, reinterpret_cast<sockaddr*>(&src), dst_len) != 0) _exit(6);
        const char ping[] = "ping";
        rc = sendto(sock, ping, sizeof(ping), 0, reinterpret_cast<sockaddr*>(&dst), dst_len) < 0
                 ? -1
                 : 0;
      }
      const int err = errno;
      close(sock);
      if (rc == 0) {
        s->ok.fetch_add(1);
      } else if (err == ECONNREFUSED || err == EPERM) {
        if (s->refused.fetch_add(1) == 0) {
          timespec now;
          clock_gettime(CLOCK_REALTIME, &now);
          s->first_refused_unix_ns.store(int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec);
        }
        s->last_errno.store(err);
      } else {
        s->other.fetch_add(1);
        s->last_errno.store(err);
      }
      ++i;
      if (interval_ns > 0) nanosleep(&step, nullptr);
    }
    _exit(0);
  }
  close(ns_fd);
  traffic->pid_ = pid;
  return traffic;
}

Traffic::~Traffic() {
  if (pid_ > 0) Stop();
  if (shared_ != nullptr) munmap(shared_, sizeof(Shared));
}

void Traffic::Pause() {
  shared_->paused.store(0);
  shared_->pause.store(1);
  while (shared_->paused.load() == 0 && pid_ > 0) absl::SleepFor(absl::Milliseconds(1));
}

void Traffic::Resume() { shared_->pause.store(0); }

AttemptResult Traffic::Now() const {
  AttemptResult r;
  r.ok = static_cast<int>(shared_->ok.load());
  r.refused = static_cast<int>(shared_->refused.load());
  r.other = static_cast<int>(shared_->other.load());
  r.last_errno = shared_->last_errno.load();
  return r;
}

std::optional<absl::Time> Traffic::FirstRefused() const {
  const int64_t ns = shared_->first_refused_unix_ns.load();
  if (ns == 0) return std::nullopt;
  return absl::FromUnixNanos(ns);
}

AttemptResult Traffic::Stop() {
  if (pid_ > 0) {
    shared_->stop.store(1);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      // A child that could not set up counts as a failure of everything.
      shared_->other.fetch_add(1'000'000);
    }
  }
  return Now();
}

// ---------------------------------------------------------------- FaultEnv

absl::StatusOr<std::unique_ptr<FaultEnv>> FaultEnv::Create(int replicas) {
  if (geteuid() != 0) return absl::PermissionDeniedError("the netns tier must run as root");
  std::unique_ptr<FaultEnv> env(new FaultEnv());
  auto net = NetnsPair::Create();
  if (!net.ok()) return net.status();
  env->net_ = std::move(*net);
  char tmpl[] = "/tmp/egress-fault-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp");
  env->dir_ = tmpl;
  std::ofstream(env->dir_ + "/token-secret") << kTestTokenSecret;
  std::ofstream(env->dir_ + "/node.token") << NodeToken(kFaultNode) << "\n";
  if (absl::Status s = env->CreateCentral(); !s.ok()) return s;
  auto tcp = RemoteListener::Start(env->remote_ns(), RemoteListener::Kind::kTcp, 443);
  if (!tcp.ok()) return tcp.status();
  env->tcp443_ = std::move(*tcp);
  auto udp = RemoteListener::Start(env->remote_ns(), RemoteListener::Kind::kUdp, 53);
  if (!udp.ok()) return udp.status();
  env->udp53_ = std::move(*udp);
  env->conninfo_ = FreshDatabase();
  env->services_.resize(static_cast<size_t>(replicas));

  // Register the node and its accounts through replica 0.
  if (absl::Status s = env->StartService(0); !s.ok()) return s;
  auto admin = v1::AccountsService::NewStub(env->Channel());
  v1::UpsertNodeRequest node;
  node.mutable_node()->set_node_id(kFaultNode);
  node.mutable_node()->add_exempt_networks(absl::StrCat(kRemoteExempt, "/32"));
  v1::Node node_out;
  grpc::ClientContext node_context;
  Authorize(&node_context, AdminToken());
  if (absl::Status s = FromGrpc(admin->UpsertNode(&node_context, node, &node_out), "UpsertNode");
      !s.ok()) {
    return s;
  }
  for (const auto& [id, uid] : {std::pair<std::string, uint32_t>{"acct-a", kFaultUidA},
                                std::pair<std::string, uint32_t>{"acct-b", kFaultUidB}}) {
    v1::UpsertAccountRequest account;
    account.mutable_account()->set_account_id(id);
    account.mutable_account()->set_node_id(kFaultNode);
    account.mutable_account()->set_uid(uid);
    v1::Account out;
    grpc::ClientContext context;
    Authorize(&context, AdminToken());
    if (absl::Status s = FromGrpc(admin->UpsertAccount(&context, account, &out), "UpsertAccount");
        !s.ok()) {
      return s;
    }
  }
  return env;
}

absl::Status FaultEnv::CreateCentral() {
  central_ = absl::StrCat("egc", getpid() % 100000, "x", net_->node().substr(3));
  if (absl::Status s = Run({kIp, "netns", "add", central_}); !s.ok()) {
    central_.clear();
    return s;
  }
  const std::string n = net_->node(), c = central_;
  const std::vector<std::vector<std::string>> steps = {
      {kIp, "link", "add", "vc", "netns", n, "type", "veth", "peer", "name", "vs", "netns", c},
      {kIp, "-n", c, "link", "set", "lo", "up"},
      {kIp, "-n", n, "addr", "add", absl::StrCat(kCentralNodeSide, "/24"), "dev", "vc"},
      {kIp, "-n", c, "addr", "add", absl::StrCat(kCentralV4, "/24"), "dev", "vs"},
      {kIp, "-n", n, "link", "set", "vc", "up"},
      {kIp, "-n", c, "link", "set", "vs", "up"},
  };
  for (const auto& step : steps) {
    if (absl::Status s = Run(step); !s.ok()) return s;
  }
  return absl::OkStatus();
}

FaultEnv::~FaultEnv() {
  agent_.reset();
  for (auto& service : services_) service.reset();
  tcp443_.reset();
  udp53_.reset();
  if (!central_.empty()) (void)Run({kIp, "netns", "del", central_});
  net_.reset();
  if (!dir_.empty()) {
    // A tmpfs a test mounted under dir_ goes first.
    (void)RunCommand({"/usr/bin/umount", "-R", dir_ + "/spool"});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string FaultEnv::ServiceTarget() const {
  std::vector<std::string> addresses;
  for (size_t i = 0; i < services_.size(); ++i) {
    addresses.push_back(absl::StrCat(kCentralV4, ":", ServicePort(static_cast<int>(i))));
  }
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

absl::Status FaultEnv::StartService(int replica) {
  const std::string sock = absl::StrCat(dir_, "/service", replica, ".sock");
  std::filesystem::remove(sock);
  auto child = StartIn(
      central_,
      {EGRESS_SERVICE_PATH, absl::StrCat("--listen=", kCentralV4, ":", ServicePort(replica)),
       "--also-listen=unix:" + sock, "--database=" + conninfo_,
       "--token-secret-file=" + dir_ + "/token-secret", "--owner-database=none",
       "--enrichment=false", "--shutdown-grace=2s", "--database-wait=120s", "--db-pool-size=4",
       "--ingest-threads=2"},
      absl::StrCat(dir_, "/service", replica, ".log"));
  if (!child.ok()) return child.status();
  auto line = (*child)->WaitForLine("egress-service listening", absl::Seconds(60));
  if (!line.ok()) return line.status();
  services_[replica] = std::move(*child);
  return absl::OkStatus();
}

absl::StatusOr<int> FaultEnv::StopService(int replica, int signal_number) {
  if (services_[replica] == nullptr) return absl::FailedPreconditionError("not running");
  services_[replica]->Signal(signal_number);
  auto code = services_[replica]->Wait(absl::Seconds(30));
  services_[replica].reset();
  return code;
}

std::shared_ptr<grpc::Channel> FaultEnv::Channel() const {
  for (size_t i = 0; i < services_.size(); ++i) {
    if (services_[i] != nullptr) {
      return grpc::CreateChannel(absl::StrCat("unix:", dir_, "/service", i, ".sock"),
                                 grpc::InsecureChannelCredentials());
    }
  }
  return nullptr;
}

absl::Status FaultEnv::StartAgent(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {EGRESS_AGENT_PATH,
                                   absl::StrCat("--node-id=", kFaultNode),
                                   "--service=" + ServiceTarget(),
                                   "--token-file=" + dir_ + "/node.token",
                                   "--state-dir=" + dir_ + "/state",
                                   "--spool-dir=" + dir_ + "/spool",
                                   "--batch-interval=100ms",
                                   "--spool-fsync=never",
                                   "--shutdown-grace=3s",
                                   "--reconnect-max-backoff=1s"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto child = StartIn(node_ns(), argv, dir_ + "/agent.log");
  if (!child.ok()) return child.status();
  auto ready = (*child)->WaitForLine("egress-agent ready", absl::Seconds(30));
  if (!ready.ok()) {
    return absl::InternalError(absl::StrCat(ready.status().message(), "\nlog:\n", AgentLog()));
  }
  agent_ = std::move(*child);
  return absl::OkStatus();
}

absl::StatusOr<int> FaultEnv::StopAgent(int signal_number) {
  if (agent_ == nullptr) return absl::FailedPreconditionError("not running");
  agent_->Signal(signal_number);
  auto code = agent_->Wait(absl::Seconds(30));
  agent_.reset();
  return code;
}

std::string FaultEnv::AgentLog() const { return ReadFileText(dir_ + "/agent.log"); }

std::string FaultEnv::ServiceLog(int replica) const {
  return ReadFileText(absl::StrCat(dir_, "/service", replica, ".log"));
}

std::optional<absl::Time> FaultEnv::AgentLogTime(const std::string& event, absl::Time after) const {
  const std::string log = AgentLog();
  const std::string needle = absl::StrCat(" event=", event);
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StrContains(line, needle) || !absl::ConsumePrefix(&line, "ts=")) continue;
    absl::Time ts;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ", std::string(line.substr(0, line.find(' '))), &ts,
                         &error)) {
      continue;
    }
    // Log times have millisecond resolution.
    if (ts + absl::Milliseconds(1) > after) return ts;
  }
  return std::nullopt;
}

absl::Status FaultEnv::SetCentralLink(bool up) {
  return Run({kIp, "-n", node_ns(), "link", "set", "vc", up ? "up" : "down"});
}

int64_t FaultEnv::Scalar(const std::string& sql) const {
  try {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    pqxx::result result = work.exec(sql);
    return result.empty() || result[0][0].is_null() ? 0 : result[0][0].as<int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

int64_t FaultEnv::WaitFor(const std::string& sql, int64_t want, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  int64_t value = Scalar(sql);
  while (value != want && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    value = Scalar(sql);
  }
  return value;
}

std::string FaultEnv::Sum(const std::string& account, int action) {
  return absl::StrCat("SELECT sum(count) FROM connection_daily WHERE account_id = '", account,
                      "' AND action = ", action);
}

absl::Status FaultEnv::BlockDestination(const std::string& account, const std::string& ip, bool tcp,
                                        uint16_t port) {
  return BlockDestinationProtocol(account, ip, tcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP, port);
}

absl::Status FaultEnv::AllowPingSockets() {
  return Run({kIp, "netns", "exec", node_ns(), "sysctl", "-q", "-w",
              "net.ipv4.ping_group_range=0 2147483647"});
}

absl::Status FaultEnv::BlockDestinationProtocol(const std::string& account, const std::string& ip,
                                                int protocol, uint16_t port) {
  auto panel = v1::ConnectionsService::NewStub(Channel());
  v1::BlockDestinationRequest block;
  block.set_account_id(account);
  block.set_destination(ip);
  block.set_protocol(static_cast<v1::Protocol>(protocol));
  block.set_port(port);
  v1::BlockRule rule;
  grpc::ClientContext context;
  Authorize(&context, PanelToken(account));
  return FromGrpc(panel->BlockDestination(&context, block, &rule), "BlockDestination");
}

absl::Status FaultEnv::ReportScan(const std::string& account, const std::string& scan_id,
                                  bool infected) {
  auto antivirus = v1::AntivirusService::NewStub(Channel());
  v1::ReportScanRequest request;
  request.set_account_id(account);
  request.set_scan_id(scan_id);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  request.mutable_finish_time()->set_seconds(now);
  if (infected) {
    v1::Threat* threat = request.add_threats();
    threat->set_path("/home/" + account + "/public_html/shell.php");
    threat->set_signature("Php.Webshell.Test");
  }
  v1::ReportScanResponse response;
  grpc::ClientContext context;
  Authorize(&context, AntivirusToken());
  return FromGrpc(antivirus->ReportScan(&context, request, &response), "ReportScan");
}

int64_t FaultEnv::AppliedRuleVersion() const {
  return Scalar(
      absl::StrCat("SELECT applied_rule_version FROM nodes WHERE node_id = '", kFaultNode, "'"));
}

int64_t FaultEnv::NodeRuleVersion() const {
  return Scalar(absl::StrCat("SELECT egress_node_rule_version('", kFaultNode, "')"));
}

absl::Status FaultEnv::WaitRulesApplied() const {
  const int64_t version = NodeRuleVersion();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (AppliedRuleVersion() < version) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("rule version ", version,
                                                      " not applied; agent log:\n", AgentLog(),
                                                      "\nservice log:\n", ServiceLog(0)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrafficMix>> TrafficMix::Start(const FaultEnv& env) {
  std::unique_ptr<TrafficMix> mix(new TrafficMix());
  TrafficSpec spec;
  spec.ns = env.node_ns();
  spec.uid = kFaultUidA;
  spec.tcp = false;
  spec.ip = kRemoteY;
  spec.port = 53;
  spec.interval = absl::Milliseconds(8);
  auto a_udp = Traffic::Start(spec);
  if (!a_udp.ok()) return a_udp.status();
  mix->a_udp_ = std::move(*a_udp);
  spec.tcp = true;
  spec.ip = kRemoteX;
  spec.port = 443;
  spec.interval = absl::Milliseconds(15);
  auto a_blocked = Traffic::Start(spec);
  if (!a_blocked.ok()) return a_blocked.status();
  mix->a_blocked_ = std::move(*a_blocked);
  spec.uid = kFaultUidB;
  spec.interval = absl::Milliseconds(8);
  auto b_tcp = Traffic::Start(spec);
  if (!b_tcp.ok()) return b_tcp.status();
  mix->b_tcp_ = std::move(*b_tcp);
  return mix;
}

TrafficTotals TrafficMix::Now() const {
  const AttemptResult a = a_udp_->Now(), blocked = a_blocked_->Now(), b = b_tcp_->Now();
  TrafficTotals t;
  // Before the block applies, acct-a's TCP attempts are accepted.
  t.a_accept = a.ok + blocked.ok;
  t.a_reject = a.refused + blocked.refused;
  t.b_accept = b.ok;
  t.other = a.other + blocked.other + b.other + b.refused;
  return t;
}

TrafficTotals TrafficMix::Stop() {
  a_udp_->Stop();
  a_blocked_->Stop();
  b_tcp_->Stop();
  return Now();
}

absl::Status BlockA(FaultEnv& env) {
  if (absl::Status s = env.BlockDestination("acct-a", kRemoteX, true, 443); !s.ok()) return s;
  return env.WaitRulesApplied();
}

absl::Status ExpectExactCounts(const FaultEnv& env, const TrafficTotals& totals,
                               absl::Duration timeout) {
  const struct {
    const char* account;
    int action;
    int64_t want;
  } expected[] = {{"acct-a", 1, totals.a_accept},
                  {"acct-a", 2, totals.a_reject},
                  {"acct-b", 1, totals.b_accept},
                  {"acct-b", 2, 0}};
  std::string errors;
  if (totals.other != 0) absl::StrAppend(&errors, totals.other, " attempts failed otherwise; ");
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& e : expected) {
    const int64_t got = env.WaitFor(FaultEnv::Sum(e.account, e.action), e.want,
                                    std::max(absl::Seconds(1), deadline - absl::Now()));
    if (got != e.want) {
      absl::StrAppend(&errors, e.account, " action ", e.action, ": PostgreSQL has ", got, ", made ",
                      e.want, "; ");
    }
  }
  absl::SleepFor(absl::Seconds(1));
  for (const auto& e : expected) {
    const int64_t got = env.Scalar(FaultEnv::Sum(e.account, e.action));
    if (got != e.want) {
      absl::StrAppend(&errors, e.account, " action ", e.action, " a second later: ", got, ", made ",
                      e.want, "; ");
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InternalError(errors);
}

double SoakMinutes() {
  const char* text = std::getenv("EGRESS_SOAK_MINUTES");
  double minutes = 0;
  if (text == nullptr || !absl::SimpleAtod(text, &minutes) || minutes < 0) return 0;
  return minutes;
}

}  // namespace egress::testing
