// TLS and mTLS on the service, with certificates made by openssl for the
// test (a CA, a server certificate for 127.0.0.1, a node's client
// certificate).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "egress/v1/accounts.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tests/support/files.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_tokens.h"
#include "tools/egressctl/reflection_client.h"

namespace egress {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::egress::v1;
using ::egress::testing::ReadFileText;
using ::egress::testing::RunCommand;
using ::egress::testing::StatusIs;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("egress-tls-" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    const std::string d = dir_->string();
    auto openssl = [](const std::string& args) {
      auto result = RunCommand({"/bin/sh", "-c", "openssl " + args + " 2>&1"});
      ASSERT_EQ(result.exit_code, 0) << args << "\n" << result.out;
    };
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=egress-test-ca -keyout " + d +
            "/ca.key -out " + d + "/ca.pem");
    for (const std::string name : {"server", "node"}) {
      openssl("req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + d + "/" + name +
              ".key -out " + d + "/" + name + ".csr");
      std::ofstream(d + "/" + name + ".ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
      openssl("x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " + d +
              "/ca.key -CAcreateserial -days 2 -extfile " + d + "/" + name + ".ext -out " + d +
              "/" + name + ".pem");
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  std::unique_ptr<EgressServer> Start(bool mutual) {
    DatabaseOptions db;
    db.conninfo = ::egress::testing::FreshDatabase();
    database_ = *Database::Connect(db);
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls_cert_file = (*dir_ / "server.pem").string();
    options.tls_key_file = (*dir_ / "server.key").string();
    if (mutual) options.tls_client_ca_file = (*dir_ / "ca.pem").string();
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    return *EgressServer::Start(options, deps);
  }

  static std::shared_ptr<grpc::Channel> Channel(const std::string& address, bool with_client_cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileText(*dir_ / "ca.pem");
    if (with_client_cert) {
      ssl.pem_cert_chain = ReadFileText(*dir_ / "node.pem");
      ssl.pem_private_key = ReadFileText(*dir_ / "node.key");
    }
    return grpc::CreateChannel(address, grpc::SslCredentials(ssl));
  }

  static grpc::Status ListNodes(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = v1::AccountsService::NewStub(channel);
    v1::ListNodesRequest request;
    v1::ListNodesResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ::egress::testing::Authorize(&context, ::egress::testing::AdminToken());
    return stub->ListNodes(&context, request, &response);
  }

  static fs::path* dir_;
  std::unique_ptr<Database> database_;
};

fs::path* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ServesTlsOnlyToClientsThatTrustItsCa) {
  auto server = Start(/*mutual=*/false);
  EXPECT_TRUE(ListNodes(Channel(server->address(), false)).ok());
  auto plaintext = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(ListNodes(plaintext).error_code(), grpc::UNAVAILABLE);
  grpc::SslCredentialsOptions wrong_ca;
  wrong_ca.pem_root_certs = ReadFileText(*dir_ / "node.pem");  // not a CA
  EXPECT_EQ(ListNodes(grpc::CreateChannel(server->address(), grpc::SslCredentials(wrong_ca)))
                .error_code(),
            grpc::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  auto server = Start(/*mutual=*/true);
  EXPECT_TRUE(ListNodes(Channel(server->address(), true)).ok());
  EXPECT_EQ(ListNodes(Channel(server->address(), false)).error_code(), grpc::UNAVAILABLE);
}

TEST_F(TlsTest, BadTlsConfigurationIsRefusedAtStart) {
  DatabaseOptions db;
  db.conninfo = ::egress::testing::FreshDatabase();
  auto database = *Database::Connect(db);
  ServerDependencies deps{database.get(), &::egress::testing::TestSigner()};
  ServerOptions only_cert;
  only_cert.listen_address = "127.0.0.1:0";
  only_cert.tls_cert_file = (*dir_ / "server.pem").string();
  EXPECT_THAT(EgressServer::Start(only_cert, deps), StatusIs(absl::StatusCode::kInvalidArgument));
  ServerOptions missing = only_cert;
  missing.tls_key_file = "/nonexistent.key";
  EXPECT_THAT(EgressServer::Start(missing, deps),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("--tls-key-file")));
}

}  // namespace
}  // namespace egress
