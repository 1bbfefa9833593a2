// In-process ConnectionsService + AntivirusService over real gRPC on a fresh
// real PostgreSQL database, with token helpers and direct-SQL seeding (the
// rows that ingest and the admin API would write). Header-only, shared by
// tests/service/connections_*_test.cc and antivirus_*_test.cc.
#ifndef EGRESS_TESTS_SERVICE_CONNECTIONS_TEST_ENV_H_
#define EGRESS_TESTS_SERVICE_CONNECTIONS_TEST_ENV_H_

#include <memory>
#include <string>

#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/antivirus_service.h"
#include "service/auth/authorizer.h"
#include "service/auth/token.h"
#include "service/connections_service.h"
#include "service/storage/database.h"
#include "service/storage/pg_connections_store.h"
#include "service/storage/pg_rules_store.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {

inline constexpr char kTestSecret[] = "connections-test-secret-0123456789abcdef";

// Inserts `rows` rows for alice on 2026-03-10: IPv4 destinations and every
// tenth an IPv6 one, TCP/UDP/ICMP, both actions, many ties in count and last
// seen (so tie-breaks are exercised), last seen from `last_seen_base` on;
// and bob's one row to 10.0.0.1 that day, which alice must never see.
inline std::string SyntheticDaySql(int rows, const std::string& last_seen_base) {
  return R"sql(
      INSERT INTO connection_daily
        (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
      SELECT 'alice', '2026-03-10',
             CASE WHEN i % 10 = 9 THEN ('2001:db8:' || to_hex(i) || '::1')::inet
                  ELSE ('10.0.' || (i / 256) || '.' || (i % 256))::inet END,
             CASE i % 3 WHEN 0 THEN 6 WHEN 1 THEN 17 ELSE 1 END,
             CASE i % 3 WHEN 2 THEN 0 ELSE 1 + (i * 13) % 2000 END,
             1 + (i / 7) % 2,
             1 + (i * 7919) % 500,
             '2026-03-10T00:00:00Z'::timestamptz + ((i * 31) % 1000) * interval '1 second',
             ')sql" +
         last_seen_base + R"sql('::timestamptz + ((i * 37) % 3000) * interval '1 second'
        FROM generate_series(0, )sql" +
         std::to_string(rows - 1) + R"sql() AS i;
      INSERT INTO connection_daily
        (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
      VALUES ('bob', '2026-03-10', '10.0.0.1', 6, 443, 1, 99, now(), now());
)sql";
}

class PanelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    connections_store_ = std::make_unique<PgConnectionsStore>(database_.get());
    rules_store_ = std::make_unique<PgRulesStore>(database_.get());
    ASSERT_OK_AND_ASSIGN(signer_, TokenSigner::Create(kTestSecret));
    authorizer_ = std::make_unique<Authorizer>(signer_.get());
    connections_service_ = std::make_unique<ConnectionsServiceImpl>(
        connections_store_.get(), rules_store_.get(), authorizer_.get(), absl::UTCTimeZone());
    antivirus_service_ =
        std::make_unique<AntivirusServiceImpl>(rules_store_.get(), authorizer_.get());
    grpc::ServerBuilder builder;
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(connections_service_.get());
    builder.RegisterService(antivirus_service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    connections_ = egress::v1::ConnectionsService::NewStub(channel_);
    antivirus_ = egress::v1::AntivirusService::NewStub(channel_);

    // web-01 with alice (dedicated IPs) and bob; web-02 with carol.
    Sql(R"sql(
      INSERT INTO nodes (node_id, server_ipv4, server_ipv6)
      VALUES ('web-01', '198.51.100.10', '2001:db8::10'), ('web-02', '198.51.100.20', NULL);
      INSERT INTO accounts (account_id, node_id, uid)
      VALUES ('alice', 'web-01', 1001), ('bob', 'web-01', 1002), ('carol', 'web-02', 1003);
      INSERT INTO dedicated_ips (account_id, ip, ordered_at)
      VALUES ('alice', '203.0.113.9', '2024-06-01T00:00:00Z'),
             ('alice', '203.0.113.5', '2024-05-01T00:00:00Z');
      SELECT egress_ensure_partitions('2026-01-01', 12);
    )sql");
    alice_ = Token("alice", {Scope::kPanel});
    bob_ = Token("bob", {Scope::kPanel});
    admin_ = Token("ops", {Scope::kAdmin});
    av_ = Token("clamav", {Scope::kAntivirus});
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  std::string Token(const std::string& subject, std::set<Scope> scopes) {
    absl::StatusOr<std::string> token =
        signer_->Sign(Claims{subject, std::move(scopes), absl::Now() + absl::Hours(1)});
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }

  // Runs SQL text (test data only) outside the service.
  pqxx::result Sql(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    pqxx::result result = work.exec(sql);
    work.commit();
    return result;
  }

  std::string Dump() { return DumpAllTables(conninfo_); }

  // Calls `method` of `stub` with `token` ("" = no credentials).
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const std::string& token, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    return (stub->*method)(&context, request, response);
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgConnectionsStore> connections_store_;
  std::unique_ptr<PgRulesStore> rules_store_;
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<ConnectionsServiceImpl> connections_service_;
  std::unique_ptr<AntivirusServiceImpl> antivirus_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<egress::v1::ConnectionsService::Stub> connections_;
  std::unique_ptr<egress::v1::AntivirusService::Stub> antivirus_;
  std::string alice_, bob_, admin_, av_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SERVICE_CONNECTIONS_TEST_ENV_H_
