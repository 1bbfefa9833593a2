// Fault-test environment: the real egress-agent in a node namespace (see
// NetnsPair), listeners in the remote namespace, and a third "central"
// namespace joined to the node by its own veth (10.78.0.0/24) where one or
// more real egress-service processes listen on TCP, all on the harness's
// PostgreSQL (one cluster per test binary, reached over its unix socket).
// The link node <-> central can be cut without touching the node's traffic
// to the remote namespace. Services also listen on a unix socket each, which
// the test uses for admin, panel and antivirus calls.
//
// Traffic runs in forked children (one per stream: uid, protocol,
// destination) that count what they did in shared memory, so totals are
// known exactly while the agent, the services or PostgreSQL are killed.
//
// Node "fault-node" with accounts acct-a (uid 2001) and acct-b (uid 2002).
// Everything (processes, namespaces, folders) is removed by the destructor.
// Needs root; a missing capability fails, never skips.
#ifndef EGRESS_TESTS_NETNS_FAULT_ENV_H_
#define EGRESS_TESTS_NETNS_FAULT_ENV_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "tests/netns/netns_env.h"
#include "tests/support/subprocess.h"

namespace egress::testing {

inline constexpr uint32_t kFaultUidA = 2001;
inline constexpr uint32_t kFaultUidB = 2002;
inline constexpr char kFaultNode[] = "fault-node";
inline constexpr char kCentralNodeSide[] = "10.78.0.1";
inline constexpr char kCentralV4[] = "10.78.0.2";

// A stream of connection attempts from a forked child in `ns` as `uid`.
struct TrafficSpec {
  std::string ns;
  uint32_t uid = 0;
  bool tcp = true;
  std::string ip;
  uint16_t port = 0;
  // ICMP/ICMPv6 echo requests from a ping socket each (a new flow each);
  // `tcp` and `port` are ignored. The namespace must allow ping sockets
  // (FaultEnv::AllowPingSockets).
  bool icmp = false;
  // Pause between attempts.
  absl::Duration interval = absl::Milliseconds(10);
  // UDP: every attempt from its own source port (from this base), so each
  // is a new flow. With `vary_port`, the destination port changes on every
  // attempt (from `port`, over 60,000 ports) so every attempt is a new
  // aggregate key.
  uint16_t udp_source_base = 20000;
  bool vary_port = false;
};

class Traffic {
 public:
  static absl::StatusOr<std::unique_ptr<Traffic>> Start(const TrafficSpec& spec);
  ~Traffic();  // stops the child

  // Waits until the child stands still between attempts.
  void Pause();
  void Resume();
  // Stops the child and returns its totals.
  AttemptResult Stop();
  AttemptResult Now() const;
  // When an attempt was first refused (ECONNREFUSED/EPERM), if ever.
  std::optional<absl::Time> FirstRefused() const;

 private:
  struct Shared {
    std::atomic<int64_t> ok;
    std::atomic<int64_t> refused;
    std::atomic<int64_t> other;
    std::atomic<int32_t> last_errno;
    std::atomic<int32_t> stop;
    std::atomic<int32_t> pause;
    std::atomic<int32_t> paused;
    std::atomic<int64_t> first_refused_unix_ns;
  };
  Traffic() = default;
  Shared* shared_ = nullptr;
  pid_t pid_ = -1;
};

class FaultEnv {
 public:
  // `replicas` service processes (not started yet). The node and accounts are
  // registered through a temporary replica that is stopped again.
  static absl::StatusOr<std::unique_ptr<FaultEnv>> Create(int replicas = 1);
  ~FaultEnv();

  const std::string& node_ns() const { return net_->node(); }
  const std::string& remote_ns() const { return net_->remote(); }
  const std::string& central_ns() const { return central_; }
  const std::string& dir() const { return dir_; }
  const std::string& conninfo() const { return conninfo_; }

  // gRPC target naming every replica ("ipv4:a:p1,a:p2").
  std::string ServiceTarget() const;
  uint16_t ServicePort(int replica) const { return static_cast<uint16_t>(50061 + replica); }
  absl::Status StartService(int replica);
  // Signals the replica and waits for it to exit; returns its exit code.
  absl::StatusOr<int> StopService(int replica, int signal_number);
  bool ServiceRunning(int replica) const { return services_[replica] != nullptr; }
  // A channel to a running replica's unix socket (for the test's own calls).
  std::shared_ptr<grpc::Channel> Channel() const;

  // Starts egress-agent in the node namespace pointed at every replica, and
  // waits for "egress-agent ready". `extra` flags come last (override).
  absl::Status StartAgent(const std::vector<std::string>& extra = {});
  absl::StatusOr<int> StopAgent(int signal_number);
  bool AgentRunning() const { return agent_ != nullptr; }
  // The agent's log (stderr of every run, appended).
  std::string AgentLog() const;
  // Replica `replica`'s stderr, over all its starts.
  std::string ServiceLog(int replica) const;
  // The time of the first agent log line of `event` logged at `after` or later.
  std::optional<absl::Time> AgentLogTime(const std::string& event, absl::Time after) const;
  absl::Status SetCentralLink(bool up);

  // The first column of the first row of `sql` as an integer (0 for NULL or
  // no row); -1 if the database cannot be reached.
  int64_t Scalar(const std::string& sql) const;
  // Polls until `sql` yields `want` or `timeout` passes; the last value.
  int64_t WaitFor(const std::string& sql, int64_t want,
                  absl::Duration timeout = absl::Seconds(60)) const;
  // SUM(count) in connection_daily for an account and action (1 ACCEPT, 2 REJECT).
  static std::string Sum(const std::string& account, int action);

  // Panel/admin helpers, through a running replica.
  absl::Status BlockDestination(const std::string& account, const std::string& ip, bool tcp,
                                uint16_t port);
  // `protocol` as in v1::Protocol (1 tcp, 2 udp, 3 icmp, ...).
  absl::Status BlockDestinationProtocol(const std::string& account, const std::string& ip,
                                        int protocol, uint16_t port);
  // Lets every uid of the node namespace open ICMP ping sockets.
  absl::Status AllowPingSockets();
  absl::Status ReportScan(const std::string& account, const std::string& scan_id, bool infected);
  // Rule version of the account's node as last acknowledged by the agent.
  int64_t AppliedRuleVersion() const;
  int64_t NodeRuleVersion() const;
  // Waits (30 s at most) until the agent acknowledged the node's current
  // rule version; the error carries the agent's and the service's logs.
  absl::Status WaitRulesApplied() const;

 private:
  FaultEnv() = default;
  absl::Status CreateCentral();

  std::unique_ptr<NetnsPair> net_;
  std::string central_;
  std::string dir_;
  std::string conninfo_;
  std::vector<std::unique_ptr<ChildProcess>> services_;
  std::unique_ptr<ChildProcess> agent_;
  std::unique_ptr<RemoteListener> tcp443_, udp53_;
};

// The standard mix of the fault tests: acct-a sends UDP to Y:53 (accepted)
// and connects by TCP to X:443 (refused once BlockA() ran: REJECT), acct-b
// connects by TCP to X:443 (accepted). About 250 attempts/s in all.
struct TrafficTotals {
  int64_t a_accept = 0;
  int64_t a_reject = 0;
  int64_t b_accept = 0;
  int64_t other = 0;  // attempts that neither succeeded nor were refused
};

class TrafficMix {
 public:
  static absl::StatusOr<std::unique_ptr<TrafficMix>> Start(const FaultEnv& env);
  // Refused attempts are lost while no agent reads NFLOG (documented), so
  // tests that kill the agent pause them around the kill.
  Traffic& blocked() { return *a_blocked_; }
  TrafficTotals Now() const;
  TrafficTotals Stop();

 private:
  std::unique_ptr<Traffic> a_udp_, a_blocked_, b_tcp_;
};

// acct-a: block X:443/tcp, and wait until the agent applied it.
absl::Status BlockA(FaultEnv& env);

// Waits until PostgreSQL holds exactly `totals` (ACCEPT and REJECT of both
// accounts), then checks that nothing more arrives within a second (no
// doubles). The error names every mismatch.
absl::Status ExpectExactCounts(const FaultEnv& env, const TrafficTotals& totals,
                               absl::Duration timeout = absl::Seconds(90));

// Minutes for the fault loops: EGRESS_SOAK_MINUTES when set (bench/fault_soak.sh),
// else 0 (the bounded test-suite variant).
double SoakMinutes();

}  // namespace egress::testing

#endif  // EGRESS_TESTS_NETNS_FAULT_ENV_H_
