// The whole egress-service (all four services, as EgressServer builds it) in
// process on a fresh real PostgreSQL database, seeded through the real API:
// nodes web-01 (alice, bob) and web-02 (carol), a block rule and a day of
// connections for alice. Shared by the security tests (auth matrix, hostile
// input corpus).
#ifndef EGRESS_TESTS_SECURITY_SECURITY_ENV_H_
#define EGRESS_TESTS_SECURITY_SECURITY_ENV_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/collector.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "service/storage/database.h"

namespace egress::testing {

// Ids of the seeded data.
inline constexpr char kNodeA[] = "web-01";
inline constexpr char kNodeB[] = "web-02";
inline constexpr char kAlice[] = "alice";  // web-01, uid 1001
inline constexpr char kBob[] = "bob";      // web-01, uid 1002
inline constexpr char kCarol[] = "carol";  // web-02, uid 1003
inline constexpr uint32_t kAliceUid = 1001;
inline constexpr uint32_t kCarolUid = 1003;

class SecurityEnv : public ::testing::Test {
 public:
  // Starts `token` ("" = none) on a context with a 30 s deadline.
  static void Prepare(grpc::ClientContext* context, const std::string& token);

 protected:
  void SetUp() override;
  void TearDown() override;

  // Every row of every table, as DumpAllTables, without `skip` tables.
  std::string Dump(const std::set<std::string>& skip = {});

  // A valid record of `uid` for today, TCP to 192.0.2.<host>:443, ACCEPT.
  egress::v1::ConnectionRecord Record(uint32_t uid, int host = 10) const;

  // A batch message of web-01 with the next sequence number.
  egress::v1::AgentMessage Batch(std::vector<egress::v1::ConnectionRecord> records);

  std::string conninfo_;
  absl::CivilDay today_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<pqxx::connection> dump_connection_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<egress::v1::AccountsService::Stub> accounts_;
  std::unique_ptr<egress::v1::ConnectionsService::Stub> connections_;
  std::unique_ptr<egress::v1::AntivirusService::Stub> antivirus_;
  std::unique_ptr<egress::v1::AbuseService::Stub> abuse_;
  // alice's rule on 192.0.2.1/32 tcp 443, created by the seed.
  uint64_t seed_rule_id_ = 0;
  // Next batch sequence of web-01 (the seed used 1).
  uint64_t next_seq_ = 2;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SECURITY_SECURITY_ENV_H_
