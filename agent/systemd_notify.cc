#include "agent/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace egress::agent {

absl::Status NotifySystemdReady() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return absl::OkStatus();
  const std::string name = path;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (name.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("NOTIFY_SOCKET too long");
  }
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  static constexpr char kReady[] = "READY=1";
  const ssize_t n =
      sendto(fd, kReady, sizeof(kReady) - 1, 0, reinterpret_cast<sockaddr*>(&addr), len);
  const int err = errno;
  close(fd);
  if (n < 0) return absl::InternalError(absl::StrCat("notify: ", std::strerror(err)));
  return absl::OkStatus();
}

}  // namespace egress::agent
