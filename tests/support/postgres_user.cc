#include "tests/support/postgres_user.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace egress::testing {

absl::StatusOr<RunAs> PostgresServerUser() {
  RunAs run_as;
  if (geteuid() != 0) return run_as;
  const passwd* user = getpwnam("postgres");
  if (user == nullptr) {
    return absl::FailedPreconditionError(
        "running as root, but there is no `postgres` user to run PostgreSQL as "
        "(install postgresql-15: scripts/setup.sh does)");
  }
  run_as.uid = user->pw_uid;
  run_as.gid = user->pw_gid;
  run_as.drop = true;
  return run_as;
}

int FreeLoopbackTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace egress::testing
