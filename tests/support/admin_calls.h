// AccountsService calls with an admin token, for tests that need a node and
// its accounts before an agent connects.
#ifndef EGRESS_TESTS_SUPPORT_ADMIN_CALLS_H_
#define EGRESS_TESTS_SUPPORT_ADMIN_CALLS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/channel.h"

namespace egress::testing {

// Creates or updates node `node_id` (server IPv4 address optional).
absl::Status UpsertNode(const std::shared_ptr<grpc::Channel>& channel, const std::string& node_id,
                        const std::string& server_ipv4 = "");

// Creates or updates account `account_id` with `uid` on `node_id`.
absl::Status UpsertAccount(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& account_id, const std::string& node_id, uint32_t uid);

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_ADMIN_CALLS_H_
