#include "tests/netns/netns_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/subprocess.h"

namespace egress::testing {
namespace {

constexpr char kIp[] = "/usr/sbin/ip";

absl::Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kIp};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, absl::Seconds(20));
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(absl::StrJoin(argv, " "), " failed (", r.exit_code, "): ", r.err));
  }
  return absl::OkStatus();
}

int OpenNetns(const std::string& ns) {
  return open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY | O_CLOEXEC);
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetnsPair>> NetnsPair::Create() {
  static std::atomic<int> counter{0};
  const std::string suffix = absl::StrCat(getpid() % 100000, "x", counter++);
  std::unique_ptr<NetnsPair> pair(new NetnsPair());
  pair->node_ = absl::StrCat("egn", suffix);
  if (absl::Status s = Ip({"netns", "add", pair->node_}); !s.ok()) {
    pair->node_.clear();
    return s;
  }
  pair->remote_ = absl::StrCat("egr", suffix);
  if (absl::Status s = Ip({"netns", "add", pair->remote_}); !s.ok()) {
    pair->remote_.clear();
    return s;
  }
  const std::string n = pair->node_, r = pair->remote_;
  const std::vector<std::vector<std::string>> steps = {
      {"link", "add", "vn", "netns", n, "type", "veth", "peer", "name", "vr", "netns", r},
      {"-n", n, "link", "set", "lo", "up"},
      {"-n", r, "link", "set", "lo", "up"},
      {"-n", n, "addr", "add", absl::StrCat(kNodeV4, "/24"), "dev", "vn"},
      {"-n", n, "addr", "add", absl::StrCat(kDedicatedV4, "/24"), "dev", "vn"},
      {"-n", n, "addr", "add", absl::StrCat(kNodeV6, "/64"), "dev", "vn", "nodad"},
      {"-n", n, "addr", "add", absl::StrCat(kDedicatedV6, "/64"), "dev", "vn", "nodad"},
      {"-n", r, "addr", "add", absl::StrCat(kRemoteX, "/24"), "dev", "vr"},
      {"-n", r, "addr", "add", absl::StrCat(kRemoteY, "/24"), "dev", "vr"},
      {"-n", r, "addr", "add", absl::StrCat(kRemoteExempt, "/24"), "dev", "vr"},
      {"-n", r, "addr", "add", absl::StrCat(kRemoteZ, "/24"), "dev", "vr"},
      {"-n", r, "addr", "add", absl::StrCat(kRemoteX6, "/64"), "dev", "vr", "nodad"},
      {"-n", r, "addr", "add", absl::StrCat(kRemoteY6, "/64"), "dev", "vr", "nodad"},
      {"-n", n, "link", "set", "vn", "up"},
      {"-n", r, "link", "set", "vr", "up"},
  };
  for (const auto& step : steps) {
    if (absl::Status s = Ip(step); !s.ok()) return s;
  }
  return pair;
}

NetnsPair::~NetnsPair() {
  // Deleting a namespace takes its veth end, addresses and nft tables with it.
  if (!node_.empty()) (void)Ip({"netns", "del", node_});
  if (!remote_.empty()) (void)Ip({"netns", "del", remote_});
}

absl::StatusOr<int> SocketIn(const std::string& ns, int domain, int type) {
  const int target = OpenNetns(ns);
  if (target < 0)
    return absl::InternalError(absl::StrCat("open netns ", ns, ": ", strerror(errno)));
  const int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0 || setns(target, CLONE_NEWNET) != 0) {
    const int err = errno;
    close(target);
    if (self >= 0) close(self);
    return absl::InternalError(absl::StrCat("setns ", ns, ": ", strerror(err)));
  }
  const int fd = socket(domain, type | SOCK_CLOEXEC, 0);
  const int err = errno;
  const int back = setns(self, CLONE_NEWNET);
  close(target);
  close(self);
  if (back != 0) abort();  // The thread would stay in the wrong namespace.
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(err)));
  return fd;
}

absl::StatusOr<std::unique_ptr<RemoteListener>> RemoteListener::Start(const std::string& ns,
                                                                      Kind kind, uint16_t port) {
  std::unique_ptr<RemoteListener> listener(new RemoteListener());
  listener->kind_ = kind;
  listener->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  for (int domain : {AF_INET, AF_INET6}) {
    auto fd = SocketIn(ns, domain, kind == Kind::kTcp ? SOCK_STREAM : SOCK_DGRAM);
    if (!fd.ok()) return fd.status();
    listener->fds_.push_back(*fd);
    const int one = 1;
    setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc;
    if (domain == AF_INET) {
      sockaddr_in a = {};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      rc = bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    } else {
      setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
      sockaddr_in6 a = {};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      rc = bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
    if (rc != 0 || (kind == Kind::kTcp && listen(*fd, 4096) != 0)) {
      return absl::InternalError(absl::StrCat("bind/listen port ", port, ": ", strerror(errno)));
    }
  }
  for (int fd : listener->fds_) {
    listener->threads_.emplace_back([l = listener.get(), fd] { l->Loop(fd); });
  }
  return listener;
}

RemoteListener::~RemoteListener() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof(one));
  for (auto& t : threads_) t.join();
  for (int fd : fds_) close(fd);
  close(stop_fd_);
}

void RemoteListener::Loop(int fd) {
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage peer = {};
    socklen_t len = sizeof(peer);
    char buf[2048];
    if (kind_ == Kind::kTcp) {
      const int c = accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (c < 0) continue;
      close(c);
    } else {
      if (recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&peer), &len) < 0) continue;
    }
    char text[INET6_ADDRSTRLEN] = {};
    if (peer.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof(text));
    }
    absl::MutexLock lock(&mu_);
    ++peers_[text];
  }
}

std::map<std::string, int> RemoteListener::peers() const {
  absl::MutexLock lock(&mu_);
  return peers_;
}

int RemoteListener::total() const {
  absl::MutexLock lock(&mu_);
  int total = 0;
  for (const auto& [peer, n] : peers_) total += n;
  return total;
}

absl::StatusOr<AttemptResult> AttemptsAs(const std::string& ns, uint32_t uid, bool tcp,
                                         const std::string& ip, uint16_t port, int count) {
  sockaddr_storage dst = {};
  socklen_t dst_len = 0;
  int domain = AF_INET;
  if (inet_pton(AF_INET, ip.c_str(), &reinterpret_cast<sockaddr_in*>(&dst)->sin_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&dst);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    dst_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, ip.c_str(), &reinterpret_cast<sockaddr_in6*>(&dst)->sin6_addr) ==
             1) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&dst);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    dst_len = sizeof(sockaddr_in6);
    domain = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad ip ", ip));
  }
  // UDP: every attempt from its own source port, so that each is a new flow
  // (a random ephemeral port may repeat a flow conntrack still tracks, which
  // is then, rightly, no new connection).
  static std::atomic<int> next_udp_port{20000};
  const int udp_base = tcp ? 0 : next_udp_port.fetch_add(count);
  if (udp_base + count > 60000) return absl::ResourceExhaustedError("out of UDP source ports");
  const int ns_fd = OpenNetns(ns);
  if (ns_fd < 0) return absl::InternalError(absl::StrCat("open netns ", ns));
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    AttemptResult result;
    if (setns(ns_fd, CLONE_NEWNET) != 0 || setgroups(0, nullptr) != 0 ||
        setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) {
      _exit(3);
    }
    for (int i = 0; i < count; ++i) {
      const int s = socket(domain, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
      if (s < 0) _exit(4);
      if (!tcp) {
        sockaddr_storage src = {};
        src.ss_family = static_cast<sa_family_t>(domain);
        const uint16_t sport = htons(static_cast<uint16_t>(udp_base + i));
        if (domain == AF_INET) {
          reinterpret_cast<sockaddr_in*>(&src)->sin_port = sport;
        } else {
          reinterpret_cast<sockaddr_in6*>(&src)->sin6_port = sport;
        }
        if (bind(s, reinterpret_cast<sockaddr*>(&src), dst_len) != 0) _exit(6);
      }
      int rc;
      if (tcp) {
        rc = connect(s, reinterpret_cast<sockaddr*>(&dst), dst_len);
      } else {
        const char ping[] = "ping";
        rc = sendto(s, ping, sizeof(ping), 0, reinterpret_cast<sockaddr*>(&dst), dst_len) < 0 ? -1
                                                                                              : 0;
      }
      if (rc == 0) {
        ++result.ok;
      } else if (errno == ECONNREFUSED || errno == EPERM) {
        ++result.refused;
        result.last_errno = errno;
      } else {
        ++result.other;
        result.last_errno = errno;
      }
      close(s);
    }
    if (write(pipe_fds[1], &result, sizeof(result)) != sizeof(result)) _exit(5);
    _exit(0);
  }
  close(ns_fd);
  close(pipe_fds[1]);
  AttemptResult result;
  const ssize_t n = read(pipe_fds[0], &result, sizeof(result));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != sizeof(result) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("attempt child failed, exit status ", WEXITSTATUS(status)));
  }
  return result;
}

}  // namespace egress::testing
