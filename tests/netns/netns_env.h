// Real-kernel test environment: a "node" and a "remote" network namespace
// joined by a veth pair, IPv4 and IPv6, created with unique names and removed
// by the destructor (so by the fixture's TearDown, also after a failure).
// Helpers make sockets inside a namespace from the test process (setns on
// the calling thread only), run listeners in the remote namespace, and open
// connections from the node namespace as a given uid in a forked child.
//
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN). A missing capability is a test
// failure, never a skip.
#ifndef EGRESS_TESTS_NETNS_NETNS_ENV_H_
#define EGRESS_TESTS_NETNS_NETNS_ENV_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace egress::testing {

// Addresses of the test network.
inline constexpr char kNodeV4[] = "10.77.0.1";       // the server IP
inline constexpr char kDedicatedV4[] = "10.77.0.2";  // an account's dedicated IP
inline constexpr char kNodeV6[] = "fd77::1";
inline constexpr char kDedicatedV6[] = "fd77::2";
inline constexpr char kRemoteX[] = "10.77.0.100";
inline constexpr char kRemoteY[] = "10.77.0.101";
inline constexpr char kRemoteExempt[] = "10.77.0.102";
inline constexpr char kRemoteZ[] = "10.77.0.130";
inline constexpr char kRemoteX6[] = "fd77::100";
inline constexpr char kRemoteY6[] = "fd77::101";

class NetnsPair {
 public:
  static absl::StatusOr<std::unique_ptr<NetnsPair>> Create();
  ~NetnsPair();

  const std::string& node() const { return node_; }
  const std::string& remote() const { return remote_; }

 private:
  NetnsPair() = default;
  std::string node_;
  std::string remote_;
};

// Creates a socket in namespace `ns` (by name) from the calling thread.
absl::StatusOr<int> SocketIn(const std::string& ns, int domain, int type);

// Accepts TCP connections (v4 and v6, any address) on `port` in `ns`, or
// reads UDP datagrams, and counts them per peer address.
class RemoteListener {
 public:
  enum class Kind { kTcp, kUdp };
  static absl::StatusOr<std::unique_ptr<RemoteListener>> Start(const std::string& ns, Kind kind,
                                                               uint16_t port);
  ~RemoteListener();
  // Connections (TCP) or datagrams (UDP) received, per source address text.
  std::map<std::string, int> peers() const;
  int total() const;

 private:
  RemoteListener() = default;
  void Loop(int fd);

  Kind kind_ = Kind::kTcp;
  std::vector<int> fds_;
  int stop_fd_ = -1;
  std::vector<std::thread> threads_;
  mutable absl::Mutex mu_;
  std::map<std::string, int> peers_ ABSL_GUARDED_BY(mu_);
};

struct AttemptResult {
  int ok = 0;
  int refused = 0;  // ECONNREFUSED (TCP) or EPERM (UDP send)
  int other = 0;
  int last_errno = 0;
};

// In a forked child: enter `ns`, become `uid` (and gid), make `count`
// connection attempts to ip:port (TCP: connect and close; UDP: a new socket
// sending one datagram each).
absl::StatusOr<AttemptResult> AttemptsAs(const std::string& ns, uint32_t uid, bool tcp,
                                         const std::string& ip, uint16_t port, int count);

}  // namespace egress::testing

#endif  // EGRESS_TESTS_NETNS_NETNS_ENV_H_
