// While PostgreSQL is down, every caller (a customer's panel included) gets a
// short UNAVAILABLE with a request id, and nothing of the machinery: no SQL,
// no libpq text, no socket path, no process id. The service log has the
// details under the same request id. When the database is back, the same
// calls work again without a restart.
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/antivirus.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/rpc_edge.h"
#include "service/server.h"
#include "service/storage/migrations.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AdminToken;
using ::egress::testing::AgentClient;
using ::egress::testing::AntivirusToken;
using ::egress::testing::Authorize;
using ::egress::testing::NodeToken;
using ::egress::testing::PanelToken;
using ::egress::testing::PostgresCluster;

// What a caller-facing message must never contain.
void ExpectNothingInternal(const std::string& message, const std::string& socket_dir) {
  for (const char* leak :
       {"socket", ".s.PGSQL", "postgres", "PostgreSQL", "connection to server", "ERROR", "DETAIL",
        "SELECT", "INSERT", "UPDATE", "Process", "pid", "sqlstate", "libpq", "pqxx"}) {
    EXPECT_THAT(message, ::testing::Not(::testing::HasSubstr(leak))) << message;
  }
  EXPECT_THAT(message, ::testing::Not(::testing::HasSubstr(socket_dir)));
  EXPECT_FALSE(std::regex_search(message, std::regex("/[a-z]"))) << "a path? " << message;
  EXPECT_TRUE(std::regex_search(message, std::regex(R"(\(request id r-[0-9a-f]{16}\))")))
      << message;
}

TEST(CleanFailuresTest, ADatabaseOutageIsUnavailableWithARequestIdAndNoInternals) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> cluster, PostgresCluster::Start());
  ASSERT_OK(cluster->CreateDatabase("egress"));
  const std::string conninfo = cluster->ConnectionString("egress");
  DatabaseOptions options;
  options.conninfo = conninfo;
  options.acquire_timeout = absl::Seconds(2);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> database, Database::Connect(options));
  ASSERT_OK(ApplyMigrations(*database, EmbeddedMigrations()).status());
  {
    pqxx::connection connection(conninfo);
    pqxx::work work(connection);
    work.exec("INSERT INTO nodes (node_id) VALUES ('web-01')");
    work.exec("INSERT INTO accounts (account_id, node_id, uid) VALUES ('alice', 'web-01', 1001)");
    work.commit();
  }
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  ServerDependencies deps{database.get(), &::egress::testing::TestSigner()};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EgressServer> server,
                       EgressServer::Start(server_options, deps));
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto connections = v1::ConnectionsService::NewStub(channel);
  auto accounts = v1::AccountsService::NewStub(channel);
  auto antivirus = v1::AntivirusService::NewStub(channel);

  // One call of each kind of caller (each round writes something new).
  int round = 0;
  auto run_calls = [&](bool database_up) {
    ++round;
    std::vector<std::pair<std::string, grpc::Status>> results;
    {
      v1::ListDatesRequest request;
      request.set_account_id("alice");
      v1::ListDatesResponse response;
      grpc::ClientContext context;
      Authorize(&context, PanelToken("alice"));
      results.emplace_back("ListDates", connections->ListDates(&context, request, &response));
    }
    {
      v1::BlockDestinationRequest request;
      request.set_account_id("alice");
      request.set_destination(absl::StrCat("203.0.113.", round));
      v1::BlockRule response;
      grpc::ClientContext context;
      Authorize(&context, PanelToken("alice"));
      results.emplace_back("BlockDestination",
                           connections->BlockDestination(&context, request, &response));
    }
    {
      v1::GetNodeRequest request;
      request.set_node_id("web-01");
      v1::Node response;
      grpc::ClientContext context;
      Authorize(&context, AdminToken());
      results.emplace_back("GetNode", accounts->GetNode(&context, request, &response));
    }
    {
      v1::ReportScanRequest request;
      request.set_account_id("alice");
      request.set_scan_id(absl::StrCat("scan-", round));
      request.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 10);
      v1::ReportScanResponse response;
      grpc::ClientContext context;
      Authorize(&context, AntivirusToken());
      results.emplace_back("ReportScan", antivirus->ReportScan(&context, request, &response));
    }
    {
      AgentClient agent(channel, NodeToken("web-01"));
      agent.SendHello("web-01");
      if (database_up) {
        EXPECT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
        agent.CloseSend();
      }
      results.emplace_back("Connect", agent.Finish());
    }
    return results;
  };

  for (const auto& [call, status] : run_calls(/*database_up=*/true)) {
    EXPECT_TRUE(status.ok()) << call << ": " << status.error_message();
  }
  ASSERT_OK(cluster->StopServer());
  for (const auto& [call, status] : run_calls(/*database_up=*/false)) {
    SCOPED_TRACE(call);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("database is unavailable"));
    ExpectNothingInternal(status.error_message(), cluster->socket_dir());
  }
  // Back without a restart of the service: the pool replaces its connections.
  ASSERT_OK(cluster->StartServer());
  for (const auto& [call, status] : run_calls(/*database_up=*/true)) {
    EXPECT_TRUE(status.ok()) << call << ": " << status.error_message();
  }
  server->Shutdown(absl::Now() + absl::Seconds(2));
}

// A bug's status (INTERNAL, whatever it says) reaches no caller: it is
// replaced by "internal error" and a request id; other failures keep their
// caller-facing message and gain the request id.
TEST(CleanFailuresTest, TheEdgeStripsEveryServiceFailure) {
  const grpc::Status bug =
      FinishRpc("Test", absl::InternalError("ERROR: relation \"x\" at /var/run/pg (pid 42)"));
  EXPECT_EQ(bug.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(std::regex_match(bug.error_message(),
                               std::regex(R"(internal error \(request id r-[0-9a-f]{16}\))")))
      << bug.error_message();
  const grpc::Status unknown = FinishRpc("Test", absl::UnknownError("boom at /tmp/x"));
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INTERNAL);
  const grpc::Status busy = FinishRpc("Test", absl::UnavailableError("try again later"));
  EXPECT_EQ(busy.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(busy.error_message(), ::testing::StartsWith("try again later (request id r-"));
  // The caller's own mistakes keep their message, without a request id.
  const grpc::Status mistake = FinishRpc("Test", absl::InvalidArgumentError("note: too long"));
  EXPECT_EQ(mistake.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(mistake.error_message(), "note: too long");
  // Two failures, two ids.
  EXPECT_NE(FinishRpc("Test", absl::InternalError("x")).error_message(),
            FinishRpc("Test", absl::InternalError("x")).error_message());
}

}  // namespace
}  // namespace egress
