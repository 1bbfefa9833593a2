// AccountsService over real gRPC against a real PostgreSQL, plus the
// standard services (reflection, health) every replica exposes.
#include "service/accounts_service.h"

#include "egress/v1/accounts.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "service/storage/migrations.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"
#include "tools/egressctl/reflection_client.h"

namespace egress {
namespace {

using ::egress::testing::AdminToken;
using ::egress::testing::Authorize;
using ::egress::testing::DumpAllTables;
using ::egress::testing::FreshDatabase;
using ::egress::testing::IsOkAndHolds;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::StartsWith;
namespace v1 = ::egress::v1;

class AccountsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(server_options, deps));
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::AccountsService::NewStub(channel_);
  }

  grpc::Status UpsertNode(const std::string& id, v1::Node* out = nullptr) {
    v1::UpsertNodeRequest request;
    request.mutable_node()->set_node_id(id);
    request.mutable_node()->set_server_ipv4("198.51.100.10");
    v1::Node response;
    grpc::ClientContext context;
    Authorize(&context, AdminToken());
    grpc::Status status = stub_->UpsertNode(&context, request, &response);
    if (out != nullptr) *out = response;
    return status;
  }

  grpc::Status UpsertAccount(const v1::Account& account, v1::Account* out = nullptr) {
    v1::UpsertAccountRequest request;
    *request.mutable_account() = account;
    v1::Account response;
    grpc::ClientContext context;
    Authorize(&context, AdminToken());
    grpc::Status status = stub_->UpsertAccount(&context, request, &response);
    if (out != nullptr) *out = response;
    return status;
  }

  static v1::Account MakeAccount(const std::string& id, const std::string& node, uint32_t uid) {
    v1::Account account;
    account.set_account_id(id);
    account.set_node_id(node);
    account.set_uid(uid);
    return account;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AccountsService::Stub> stub_;
};

TEST_F(AccountsServiceTest, CreatesANodeAndTwoAccountsAndListsThem) {
  v1::Node node;
  ASSERT_TRUE(UpsertNode("web-01", &node).ok());
  EXPECT_EQ(node.server_ipv4(), "198.51.100.10");
  EXPECT_GT(node.create_time().seconds(), 0);

  v1::Account alice = MakeAccount("alice", "web-01", 1001);
  auto* ip = alice.add_dedicated_ips();
  ip->set_ip("2001:DB8:0:0::5");  // stored canonical
  ip->mutable_order_time()->set_seconds(1700000000);
  v1::Account stored;
  ASSERT_TRUE(UpsertAccount(alice, &stored).ok());
  EXPECT_EQ(stored.dedicated_ips(0).ip(), "2001:db8::5");
  EXPECT_EQ(stored.dedicated_ips(0).order_time().seconds(), 1700000000);
  ASSERT_TRUE(UpsertAccount(MakeAccount("bob", "web-01", 1002)).ok());

  v1::ListAccountsRequest request;
  request.set_node_id("web-01");
  v1::ListAccountsResponse response;
  grpc::ClientContext context;
  Authorize(&context, AdminToken());
  ASSERT_TRUE(stub_->ListAccounts(&context, request, &response).ok());
  ASSERT_EQ(response.accounts_size(), 2);
  EXPECT_EQ(response.accounts(0).account_id(), "alice");
  EXPECT_EQ(response.accounts(1).account_id(), "bob");
  EXPECT_EQ(response.next_page_token(), "");

  v1::GetNodeRequest get;
  get.set_node_id("web-01");
  grpc::ClientContext get_context;
  Authorize(&get_context, AdminToken());
  ASSERT_TRUE(stub_->GetNode(&get_context, get, &node).ok());
  EXPECT_EQ(node.account_count(), 2u);
  // The node's own version (1) plus each account's (2: created, then its
  // first change counted).
  EXPECT_EQ(node.rule_version(), 5u);
}

TEST_F(AccountsServiceTest, PagesThroughAccountsWithTokens) {
  ASSERT_TRUE(UpsertNode("web-01").ok());
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(UpsertAccount(MakeAccount("a" + std::to_string(i), "web-01", 2000 + i)).ok());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListAccountsRequest request;
    request.set_page_size(3);
    request.set_page_token(token);
    v1::ListAccountsResponse response;
    grpc::ClientContext context;
    Authorize(&context, AdminToken());
    ASSERT_TRUE(stub_->ListAccounts(&context, request, &response).ok());
    for (const auto& account : response.accounts()) seen.push_back(account.account_id());
    token = response.next_page_token();
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ::testing::ElementsAre("a0", "a1", "a2", "a3", "a4", "a5", "a6"));
}

TEST_F(AccountsServiceTest, ErrorsCarryTheRightCodeAndChangeNothing) {
  ASSERT_TRUE(UpsertNode("web-01").ok());
  ASSERT_TRUE(UpsertAccount(MakeAccount("alice", "web-01", 1001)).ok());
  const std::string before = DumpAllTables(conninfo_);

  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    grpc::StatusCode code;
    std::string message_start;
  };
  std::vector<Case> cases = {
      {"missing node",
       [&] {
         v1::UpsertNodeRequest r;
         v1::Node n;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->UpsertNode(&c, r, &n);
       },
       grpc::INVALID_ARGUMENT, "node:"},
      {"bad node id", [&] { return UpsertNode("WEB 01"); }, grpc::INVALID_ARGUMENT,
       "node.node_id:"},
      {"sql in node id", [&] { return UpsertNode("x');DROP TABLE nodes;--"); },
       grpc::INVALID_ARGUMENT, "node.node_id:"},
      {"uid 0", [&] { return UpsertAccount(MakeAccount("carol", "web-01", 0)); },
       grpc::INVALID_ARGUMENT, "account.uid:"},
      {"uid taken", [&] { return UpsertAccount(MakeAccount("carol", "web-01", 1001)); },
       grpc::ALREADY_EXISTS, "account.uid:"},
      {"unknown node", [&] { return UpsertAccount(MakeAccount("carol", "web-99", 1003)); },
       grpc::NOT_FOUND, "account.node_id:"},
      {"bad dedicated ip",
       [&] {
         v1::Account a = MakeAccount("carol", "web-01", 1003);
         a.add_dedicated_ips()->set_ip("::ffff:1.2.3.4/33");
         return UpsertAccount(a);
       },
       grpc::INVALID_ARGUMENT, "account.dedicated_ips[0].ip:"},
      {"unknown account",
       [&] {
         v1::GetAccountRequest r;
         r.set_account_id("nobody");
         v1::Account a;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->GetAccount(&c, r, &a);
       },
       grpc::NOT_FOUND, "account \"nobody\""},
      {"delete node in use",
       [&] {
         v1::DeleteNodeRequest r;
         r.set_node_id("web-01");
         v1::DeleteNodeResponse d;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->DeleteNode(&c, r, &d);
       },
       grpc::FAILED_PRECONDITION, "node \"web-01\" still has 1 account"},
      {"delete unknown account",
       [&] {
         v1::DeleteAccountRequest r;
         r.set_account_id("nobody");
         v1::DeleteAccountResponse d;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->DeleteAccount(&c, r, &d);
       },
       grpc::NOT_FOUND, "account \"nobody\""},
      {"tampered page token",
       [&] {
         v1::ListNodesRequest r;
         r.set_page_token("Zm9v");
         v1::ListNodesResponse l;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->ListNodes(&c, r, &l);
       },
       grpc::INVALID_ARGUMENT, "page_token:"},
      {"huge page size",
       [&] {
         v1::ListAccountsRequest r;
         r.set_page_size(1 << 30);
         v1::ListAccountsResponse l;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->ListAccounts(&c, r, &l);
       },
       grpc::INVALID_ARGUMENT, "page_size:"},
      {"negative page size",
       [&] {
         v1::ListAccountsRequest r;
         r.set_page_size(-5);
         v1::ListAccountsResponse l;
         grpc::ClientContext c;
         Authorize(&c, AdminToken());
         return stub_->ListAccounts(&c, r, &l);
       },
       grpc::INVALID_ARGUMENT, "page_size:"},
  };
  for (const Case& c : cases) {
    grpc::Status status = c.call();
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.message_start)) << c.name;
    EXPECT_EQ(DumpAllTables(conninfo_), before) << c.name;
  }
}

TEST_F(AccountsServiceTest, ReflectionListsEveryService) {
  EXPECT_THAT(ctl::ListServicesByReflection(channel_, absl::Seconds(5)),
              IsOkAndHolds(IsSupersetOf({"egress.v1.AccountsService", "grpc.health.v1.Health",
                                         "grpc.reflection.v1alpha.ServerReflection"})));
}

TEST_F(AccountsServiceTest, HealthIsServingUntilShutdown) {
  EXPECT_THAT(ctl::CheckHealth(channel_, "", absl::Seconds(5)),
              IsOkAndHolds(::testing::Eq("SERVING")));
  server_->Shutdown(absl::Now() + absl::Seconds(1));
  EXPECT_FALSE(ctl::CheckHealth(channel_, "", absl::Seconds(1)).ok());
}

TEST_F(AccountsServiceTest, AKilledPooledConnectionIsReplacedBeforeTheCallUsesIt) {
  ASSERT_TRUE(UpsertNode("web-01").ok());
  // A second replica whose one pooled connection gets killed under it.
  DatabaseOptions options;
  options.conninfo = conninfo_;
  options.pool_size = 1;
  options.application_name = "doomed-replica";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> doomed, Database::Connect(options));
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  ServerDependencies deps{doomed.get(), &::egress::testing::TestSigner()};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EgressServer> server,
                       EgressServer::Start(server_options, deps));
  pqxx::connection admin(conninfo_);
  pqxx::nontransaction work(admin);
  // Waits (up to 5 s) until the backend has gone, so its socket is closed.
  work.exec(
      "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE "
      "application_name = 'doomed-replica'");
  auto stub = v1::AccountsService::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  v1::GetNodeRequest request;
  request.set_node_id("web-01");
  v1::Node node;
  grpc::ClientContext context;
  Authorize(&context, AdminToken());
  grpc::Status status = stub->GetNode(&context, request, &node);
  // The pooled connection was killed (as by a server restart or a failover):
  // the pool finds it dead before sending anything on it, and the call runs
  // once, on a fresh connection, and succeeds.
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(doomed->retry_stats().idle_dropped, 1u);
  EXPECT_EQ(doomed->retry_stats().broken_connections_retried, 0u);
  grpc::ClientContext again_context;
  Authorize(&again_context, AdminToken());
  EXPECT_TRUE(stub->GetNode(&again_context, request, &node).ok());
}

TEST_F(AccountsServiceTest, CallersWithoutAdminTokenAreRefusedAndChangeNothing) {
  const std::string before = DumpAllTables(conninfo_);
  struct Case {
    std::string name;
    std::string token;  // "" = no metadata
    grpc::StatusCode code;
  };
  for (const Case& c : std::vector<Case>{
           {"no token", "", grpc::UNAUTHENTICATED},
           {"garbage", "not-a-token", grpc::UNAUTHENTICATED},
           {"expired", ::egress::testing::MintToken("ops", {Scope::kAdmin}, -absl::Minutes(1)),
            grpc::UNAUTHENTICATED},
           {"wrong secret",
            (*TokenSigner::Create("another-secret-0123456789abcdef-xyz"))
                ->Sign(Claims{"ops", {Scope::kAdmin}, absl::Now() + absl::Hours(1)})
                .value(),
            grpc::UNAUTHENTICATED},
           {"panel token", ::egress::testing::PanelToken("alice"), grpc::PERMISSION_DENIED},
           {"antivirus token", ::egress::testing::AntivirusToken(), grpc::PERMISSION_DENIED},
           {"node token", ::egress::testing::NodeToken("web-01"), grpc::PERMISSION_DENIED},
       }) {
    v1::UpsertNodeRequest request;
    request.mutable_node()->set_node_id("web-01");
    v1::Node response;
    grpc::ClientContext context;
    if (!c.token.empty()) Authorize(&context, c.token);
    grpc::Status status = stub_->UpsertNode(&context, request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_EQ(DumpAllTables(conninfo_), before) << c.name;
  }
}

}  // namespace
}  // namespace egress
