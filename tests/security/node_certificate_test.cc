// Nodes over mTLS: the client certificate identifies the node as well as its
// token, so a certificate of one node cannot open another node's stream even
// with that node's token; a certificate from another CA or none at all never
// gets past the handshake. Certificates are made by openssl for the test.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tests/support/agent_client.h"
#include "tests/support/files.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::egress::v1;
using ::testing::HasSubstr;

class NodeCertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / absl::StrCat("egress-security-certs-", getpid()));
    fs::create_directories(*dir_);
    const std::string d = dir_->string();
    auto openssl = [](const std::string& args) {
      CommandResult result = RunCommand({"/bin/sh", "-c", "openssl " + args + " 2>&1"});
      ASSERT_EQ(result.exit_code, 0) << args << "\n" << result.out;
    };
    for (const std::string ca : {"ca", "rogue-ca"}) {
      openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
              ca + " -keyout " + d + "/" + ca + ".key -out " + d + "/" + ca + ".pem");
    }
    // name, CN, SAN, signing CA
    struct Cert {
      std::string name, cn, san, ca;
    };
    for (const Cert& c : std::vector<Cert>{
             {"server", "egress-service", "IP:127.0.0.1,DNS:localhost", "ca"},
             {"web-01", "web-01", "DNS:web-01", "ca"},
             {"web-02", "web-02", "DNS:web-02", "ca"},
             {"gateway", "egress-gateway", "DNS:egress-gateway", "ca"},
             {"rogue-web-01", "web-01", "DNS:web-01", "rogue-ca"},
         }) {
      const std::string base = d + "/" + c.name;
      openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + c.cn +
              " -keyout " + base + ".key -out " + base + ".csr");
      std::ofstream(base + ".ext") << "subjectAltName=" << c.san << "\n";
      openssl("x509 -req -in " + base + ".csr -CA " + d + "/" + c.ca + ".pem -CAkey " + d + "/" +
              c.ca + ".key -CAcreateserial -days 2 -extfile " + base + ".ext -out " + base +
              ".pem");
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions db;
    db.conninfo = conninfo_;
    database_ = *Database::Connect(db);
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls_cert_file = (*dir_ / "server.pem").string();
    options.tls_key_file = (*dir_ / "server.key").string();
    options.tls_client_ca_file = (*dir_ / "ca.pem").string();
    absl::StatusOr<std::unique_ptr<EgressServer>> server =
        EgressServer::Start(options, ServerDependencies{database_.get(), &TestSigner()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    // Nodes web-01 (alice) and web-02 (carol), through the admin API.
    auto admin = v1::AccountsService::NewStub(Channel("gateway"));
    for (const auto& [node, account, uid] :
         std::vector<std::tuple<std::string, std::string, uint32_t>>{{"web-01", "alice", 1001},
                                                                     {"web-02", "carol", 1003}}) {
      v1::UpsertNodeRequest node_request;
      node_request.mutable_node()->set_node_id(node);
      v1::Node node_out;
      grpc::ClientContext node_context;
      Authorize(&node_context, AdminToken());
      ASSERT_TRUE(admin->UpsertNode(&node_context, node_request, &node_out).ok());
      v1::UpsertAccountRequest account_request;
      account_request.mutable_account()->set_account_id(account);
      account_request.mutable_account()->set_node_id(node);
      account_request.mutable_account()->set_uid(uid);
      v1::Account account_out;
      grpc::ClientContext account_context;
      Authorize(&account_context, AdminToken());
      ASSERT_TRUE(admin->UpsertAccount(&account_context, account_request, &account_out).ok());
    }
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(1));
  }

  // A TLS channel presenting `cert` ("" = no client certificate).
  std::shared_ptr<grpc::Channel> Channel(const std::string& cert) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileText(*dir_ / "ca.pem");
    if (!cert.empty()) {
      ssl.pem_cert_chain = ReadFileText(*dir_ / (cert + ".pem"));
      ssl.pem_private_key = ReadFileText(*dir_ / (cert + ".key"));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(server_->address(), grpc::SslCredentials(ssl), args);
  }

  static fs::path* dir_;
  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
};

fs::path* NodeCertificateTest::dir_ = nullptr;

TEST_F(NodeCertificateTest, TheCertificateAndTheTokenMustBothNameTheNode) {
  struct Case {
    std::string name;
    std::string cert;   // "" = none
    std::string token;  // node token subject, "" = no token
    std::string hello;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"own certificate and token", "web-01", "web-01", "web-01", grpc::OK, ""},
      {"another node's certificate with this node's token", "web-02", "web-01", "web-01",
       grpc::PERMISSION_DENIED, "client certificate"},
      {"this certificate with another node's token, saying Hello as that node", "web-01", "web-02",
       "web-02", grpc::PERMISSION_DENIED, "client certificate"},
      {"another node's certificate and token, saying Hello as this node", "web-02", "web-02",
       "web-01", grpc::PERMISSION_DENIED, "token is for node"},
      {"a certificate that is no node's", "gateway", "web-01", "web-01", grpc::PERMISSION_DENIED,
       "client certificate"},
      {"the right certificate without a token", "web-01", "", "web-01", grpc::UNAUTHENTICATED,
       "credentials"},
      {"no client certificate", "", "web-01", "web-01", grpc::UNAVAILABLE, ""},
      {"a certificate from another CA", "rogue-web-01", "web-01", "web-01", grpc::UNAVAILABLE, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string before = DumpAllTables(conninfo_);
    AgentClient agent(Channel(c.cert), c.token.empty() ? "" : NodeToken(c.token));
    agent.SendHello(c.hello);
    std::optional<v1::ServiceMessage> welcome = agent.Next(absl::Seconds(10));
    if (c.code == grpc::OK) {
      ASSERT_TRUE(welcome.has_value() && welcome->has_welcome());
      ASSERT_EQ(welcome->welcome().rule_set().accounts_size(), 1);
      EXPECT_EQ(welcome->welcome().rule_set().accounts(0).account_id(), "alice");
      agent.CloseSend();
    } else {
      EXPECT_FALSE(welcome.has_value());
    }
    const grpc::Status status = agent.Finish();
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    EXPECT_EQ(DumpAllTables(conninfo_), before);
  }
}

TEST_F(NodeCertificateTest, OtherServicesOnlyNeedACertificateFromTheCa) {
  // The gateway's certificate names no node; its calls are authorized by
  // their tokens alone.
  auto stub = v1::AccountsService::NewStub(Channel("gateway"));
  v1::ListNodesResponse nodes;
  grpc::ClientContext context;
  Authorize(&context, AdminToken());
  const grpc::Status status = stub->ListNodes(&context, v1::ListNodesRequest(), &nodes);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(nodes.nodes_size(), 2);
}

}  // namespace
}  // namespace egress::testing
