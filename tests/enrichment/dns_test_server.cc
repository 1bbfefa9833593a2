#include "tests/enrichment/dns_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace egress::testing {
namespace {

// Binds a UDP socket on 127.0.0.1 at a free port.
absl::StatusOr<int> BindUdp(int* port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::InternalError("bind");
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

std::string Query(uint16_t id, const std::string& name) {
  std::string q;
  q += static_cast<char>(id >> 8);
  q += static_cast<char>(id & 0xff);
  q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q += static_cast<char>(dot - start);
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q += std::string("\x00\x00\x01\x00\x01", 5);
  return q;
}

}  // namespace

absl::Status WaitForDnsServer(int port, int attempts) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string query = Query(0x4242, "ready.example.test");
  for (int i = 0; i < attempts; ++i) {
    sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) {
      char buf[512];
      if (recv(fd, buf, sizeof(buf), 0) > 0) {
        close(fd);
        return absl::OkStatus();
      }
    }
  }
  close(fd);
  return absl::DeadlineExceededError(absl::StrCat("no DNS answer on port ", port));
}

absl::StatusOr<std::unique_ptr<Dnsmasq>> Dnsmasq::Start(const std::vector<std::string>& records,
                                                        int cache_size) {
  std::unique_ptr<Dnsmasq> server(new Dnsmasq());
  char dir_template[] = "/tmp/egress-dnsmasq-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp");
  server->dir_ = dir_template;
  std::string conf = server->dir_ + "/dnsmasq.conf";
  {
    std::ofstream out(conf);
    for (const std::string& record : records) out << record << "\n";
  }
  // A port that was free a moment ago; retried if dnsmasq loses the race.
  for (int attempt = 0; attempt < 5; ++attempt) {
    int port = 0;
    absl::StatusOr<int> fd = BindUdp(&port);
    if (!fd.ok()) return fd.status();
    close(*fd);
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
        {"/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=" + conf, "--no-resolv",
         "--no-hosts", "--pid-file=", "--user=root", "--port=" + std::to_string(port),
         "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/in-addr.arpa/",
         "--local=/ip6.arpa/", "--local=/example.test/",
         "--cache-size=" + std::to_string(cache_size), "--dns-forward-max=10000"});
    if (!child.ok()) return child.status();
    server->process_ = *std::move(child);
    server->port_ = port;
    if (WaitForDnsServer(port).ok()) return server;
    server->process_.reset();
  }
  return absl::InternalError("dnsmasq did not start");
}

Dnsmasq::~Dnsmasq() {
  process_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

std::string Dnsmasq::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<std::unique_ptr<Nsd>> Nsd::Start(const std::vector<Zone>& zones) {
  std::unique_ptr<Nsd> server(new Nsd());
  char dir_template[] = "/tmp/egress-nsd-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp");
  server->dir_ = dir_template;
  const std::string& dir = server->dir_;
  for (size_t i = 0; i < zones.size(); ++i) {
    std::ofstream out(absl::StrCat(dir, "/zone", i));
    out << "$ORIGIN " << zones[i].name << ".\n$TTL 300\n"
        << "@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n"
        << "@ NS ns.example.test.\n";
    for (const std::string& record : zones[i].records) out << record << "\n";
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    int port = 0;
    absl::StatusOr<int> fd = BindUdp(&port);
    if (!fd.ok()) return fd.status();
    close(*fd);
    std::string conf = dir + "/nsd.conf";
    {
      std::ofstream out(conf);
      out << "server:\n  ip-address: 127.0.0.1\n  port: " << port
          << "\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"" << dir << "\"\n  pidfile: \""
          << dir << "/nsd.pid\"\n  database: \"\"\n  zonelistfile: \"" << dir
          << "/zone.list\"\n  xfrdfile: \"" << dir << "/xfrd.state\"\n  xfrdir: \"" << dir
          << "\"\n  logfile: \"" << dir << "/nsd.log\"\n  server-count: 1\n  do-ip6: no\n"
          << "  verbosity: 0\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n"
          << "remote-control:\n  control-enable: no\n";
      for (size_t i = 0; i < zones.size(); ++i) {
        out << "zone:\n  name: \"" << zones[i].name << "\"\n  zonefile: \"zone" << i << "\"\n";
      }
    }
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Start({"/usr/sbin/nsd", "-d", "-c", conf});
    if (!child.ok()) return child.status();
    server->process_ = *std::move(child);
    server->port_ = port;
    if (WaitForDnsServer(port, 600).ok()) return server;
    std::ifstream log(dir + "/nsd.log");
    std::string text, line;
    while (std::getline(log, line)) text += line + "; ";
    server->process_.reset();
    return absl::InternalError(absl::StrCat("nsd did not start: ", text));
  }
  return absl::InternalError("nsd did not start");
}

Nsd::~Nsd() {
  if (process_ != nullptr) {
    // nsd stops its server and xfrd children on SIGTERM.
    process_->Signal(SIGTERM);
    (void)process_->Wait(absl::Seconds(10));
    process_.reset();
  }
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

std::string Nsd::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<std::unique_ptr<FakeUdpDnsServer>> FakeUdpDnsServer::Start(int rcode) {
  std::unique_ptr<FakeUdpDnsServer> server(new FakeUdpDnsServer());
  absl::StatusOr<int> fd = BindUdp(&server->port_);
  if (!fd.ok()) return fd.status();
  server->fd_ = *fd;
  server->rcode_ = rcode;
  server->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  server->thread_ = std::thread([s = server.get()] { s->Serve(); });
  return server;
}

FakeUdpDnsServer::~FakeUdpDnsServer() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof(one));
  thread_.join();
  close(fd_);
  close(stop_fd_);
}

std::string FakeUdpDnsServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

void FakeUdpDnsServer::Serve() {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    char buf[1500];
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 12) continue;
    queries_.fetch_add(1);
    if (rcode_ < 0) continue;
    // Echo the header and question: QR=1, RD and RA set, the RCODE.
    buf[2] = static_cast<char>(0x81 | (buf[2] & 0x78));
    buf[3] = static_cast<char>(0x80 | (rcode_ & 0x0f));
    // ANCOUNT = NSCOUNT = ARCOUNT = 0; only the question stays (an EDNS OPT
    // record of the query is cut off).
    for (int i = 6; i < 12; ++i) buf[i] = 0;
    ssize_t end = 12;
    while (end < n && buf[end] != 0) end += 1 + static_cast<unsigned char>(buf[end]);
    end += 5;
    if (end > n) continue;
    sendto(fd_, buf, static_cast<size_t>(end), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

}  // namespace egress::testing
