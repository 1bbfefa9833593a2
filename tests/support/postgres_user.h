// What the test harnesses that start PostgreSQL servers share: the user the
// servers run as (PostgreSQL refuses root) and a free loopback TCP port.
#ifndef EGRESS_TESTS_SUPPORT_POSTGRES_USER_H_
#define EGRESS_TESTS_SUPPORT_POSTGRES_USER_H_

#include <sys/types.h>

#include "absl/status/statusor.h"

namespace egress::testing {

struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  bool drop = false;  // true when we are root and must become `postgres`
};

// Ourselves, or the `postgres` user when we are root (FAILED_PRECONDITION if
// there is none).
absl::StatusOr<RunAs> PostgresServerUser();

// A TCP port on 127.0.0.1 that was free a moment ago (0 if none was found).
int FreeLoopbackTcpPort();

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_POSTGRES_USER_H_
