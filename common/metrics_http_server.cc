#include "common/metrics_http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace egress {
namespace {

// Splits "host:port" / "[v6]:port"; false if malformed.
bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) return false;
    *host = address.substr(1, close - 1);
    *port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) return false;
    *host = address.substr(0, colon);
    *port = address.substr(colon + 1);
  }
  int number = 0;
  return !host->empty() && absl::SimpleAtoi(*port, &number) && number >= 0 && number <= 65535;
}

int MillisecondsLeft(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  return left <= absl::ZeroDuration() ? 0 : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

// Writes all of `data` before `deadline`; false if the peer is gone or slow.
bool WriteAll(int fd, absl::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p = {fd, POLLOUT, 0};
      const int timeout = MillisecondsLeft(deadline);
      if (timeout == 0 || poll(&p, 1, timeout) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

std::string Response(absl::string_view status, absl::string_view content_type,
                     absl::string_view body, bool head) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n",
                      head ? absl::string_view() : body);
}

void Drain(int fd, absl::Time deadline) {
  char buffer[4096];
  size_t drained = 0;
  while (drained < (64u << 10)) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      drained += static_cast<size_t>(n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
    pollfd p = {fd, POLLIN, 0};
    const int timeout = MillisecondsLeft(deadline);
    if (timeout == 0 || poll(&p, 1, timeout) <= 0) return;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, RenderFunction render) {
  std::string host, port;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics-listen: \"", address, "\" is not host:port (e.g. 127.0.0.1:9464)"));
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics-listen: cannot resolve \"", host, "\": ", gai_strerror(error)));
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
      last_error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics-listen: cannot bind ", address, ": ", last_error));
  }
  sockaddr_storage bound = {};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  const int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("metrics: eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(fd, stop_fd, host, bound_port, std::move(render)));
  server->thread_ = std::thread([raw = server.get()] { raw->Serve(); });
  return server;
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int stop_fd, std::string host, int port,
                                     RenderFunction render)
    : listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      host_(std::move(host)),
      port_(port),
      render_(std::move(render)) {}

MetricsHttpServer::~MetricsHttpServer() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(stop_fd_);
}

std::string MetricsHttpServer::address() const {
  return host_.find(':') != std::string::npos ? absl::StrCat("[", host_, "]:", port_)
                                              : absl::StrCat(host_, ":", port_);
}

void MetricsHttpServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LogError("metrics_server_failed", {{"error", std::strerror(errno)}});
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // EAGAIN, a connection reset before accept, EMFILE: try again
    HandleConnection(fd);
    // Half-close, then drain what the client still sends (briefly): closing
    // with unread input would reset the connection and could destroy the
    // response before the client read it.
    shutdown(fd, SHUT_WR);
    Drain(fd, absl::Now() + kDrainTime);
    close(fd);
  }
}

void MetricsHttpServer::HandleConnection(int fd) {
  const absl::Time deadline = absl::Now() + kConnectionBudget;
  std::string request;
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    if (request.size() >= kMaxRequestHead) {
      WriteAll(fd,
               Response("431 Request Header Fields Too Large", "text/plain", "too large\n", false),
               deadline);
      return;
    }
    char buffer[2048];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      request.append(buffer, static_cast<size_t>(n));
      head_end = request.find("\r\n\r\n");
      if (head_end == std::string::npos) head_end = request.find("\n\n");
      continue;
    }
    if (n == 0) return;  // closed before a full request
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;
    pollfd p = {fd, POLLIN, 0};
    const int timeout = MillisecondsLeft(deadline);
    if (timeout == 0 || poll(&p, 1, timeout) <= 0) return;  // too slow: drop it
  }
  const absl::string_view head(request.data(), head_end);
  const absl::string_view request_line = head.substr(0, head.find_first_of("\r\n"));
  const std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.") || parts[1].empty() ||
      parts[1][0] != '/') {
    WriteAll(fd, Response("400 Bad Request", "text/plain", "bad request\n", false), deadline);
    return;
  }
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (path != "/metrics") {
    WriteAll(fd, Response("404 Not Found", "text/plain", "only /metrics is served here\n", false),
             deadline);
    return;
  }
  const bool head_only = parts[0] == "HEAD";
  if (parts[0] != "GET" && !head_only) {
    WriteAll(fd,
             absl::StrCat("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                          "Content-Length: 0\r\nConnection: close\r\n\r\n"),
             deadline);
    return;
  }
  WriteAll(fd, Response("200 OK", kMetricsContentType, render_(), head_only), deadline);
}

}  // namespace egress
