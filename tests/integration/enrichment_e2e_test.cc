// End to end: an agent reports a connection to a new IP; within seconds the
// panel's ListConnections shows its PTR (forward-confirmed, from a real
// dnsmasq on loopback) and owner (from a libloc database built by the test);
// with the DNS server silent, the row is listed at once and stays pending.
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tests/enrichment/dns_test_server.h"
#include "tests/enrichment/libloc_test_database.h"
#include "tests/support/agent_client.h"
#include "tests/support/journal_fold.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"
#include "tools/egressctl/commands.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::Authorize;

class EnrichmentEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("egress-e2e-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    ASSERT_OK(::egress::testing::WriteLiblocDatabase((dir_ / "location.db").string(),
                                                     {{"192.0.2.0/24", 64500, "NL"}},
                                                     {{64500, "Example Networks B.V."}}));
    conninfo_ = ::egress::testing::FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
  }
  void TearDown() override {
    server_.reset();
    enrichment_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartService(const std::string& resolver) {
    EnrichmentOptions options;
    options.owner_database_path = (dir_ / "location.db").string();
    options.resolvers = {resolver};
    options.resolver_timeout = absl::Milliseconds(300);
    options.resolver_tries = 1;
    options.claim_lease = absl::Seconds(10);
    ASSERT_OK_AND_ASSIGN(enrichment_, Enrichment::Create(options, database_.get()));
    enrichment_->worker().Start();
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner(), enrichment_.get()};
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(server_options, deps));
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    auto admin = v1::AccountsService::NewStub(channel_);
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id("web-01");
    v1::Node node_out;
    grpc::ClientContext node_context;
    Authorize(&node_context, ::egress::testing::AdminToken());
    ASSERT_TRUE(admin->UpsertNode(&node_context, node, &node_out).ok());
    v1::UpsertAccountRequest account;
    account.mutable_account()->set_account_id("alice");
    account.mutable_account()->set_node_id("web-01");
    account.mutable_account()->set_uid(1001);
    v1::Account account_out;
    grpc::ClientContext account_context;
    Authorize(&account_context, ::egress::testing::AdminToken());
    ASSERT_TRUE(admin->UpsertAccount(&account_context, account, &account_out).ok());
  }

  void Ingest(const std::string& ip4) {
    today_ = DayOf(absl::Now(), absl::UTCTimeZone());
    ::egress::testing::AgentClient agent(channel_, ::egress::testing::NodeToken("web-01"));
    agent.SendHello("web-01");
    ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(++seq_);
    v1::ConnectionRecord* record = message.mutable_batch()->add_records();
    record->set_uid(1001);
    record->mutable_day()->set_year(static_cast<int32_t>(today_.year()));
    record->mutable_day()->set_month(today_.month());
    record->mutable_day()->set_day(today_.day());
    const IpAddress ip = *IpAddress::Parse(ip4);
    record->set_dst_ip(std::string(reinterpret_cast<const char*>(ip.bytes().data()), 4));
    record->set_protocol(v1::PROTOCOL_TCP);
    record->set_dst_port(443);
    record->set_action(v1::ACTION_ACCEPT);
    record->set_count(3);
    record->mutable_first_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    record->mutable_last_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    agent.Send(message);
    ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());
    ASSERT_OK(::egress::testing::WaitForJournalFolded(conninfo_));
  }

  v1::ListConnectionsResponse List() {
    auto panel = v1::ConnectionsService::NewStub(channel_);
    v1::ListConnectionsRequest request;
    request.set_account_id("alice");
    request.mutable_date()->set_year(static_cast<int32_t>(today_.year()));
    request.mutable_date()->set_month(today_.month());
    request.mutable_date()->set_day(today_.day());
    v1::ListConnectionsResponse response;
    grpc::ClientContext context;
    Authorize(&context, ::egress::testing::PanelToken("alice"));
    EXPECT_TRUE(panel->ListConnections(&context, request, &response).ok());
    return response;
  }

  std::filesystem::path dir_;
  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<Enrichment> enrichment_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::CivilDay today_;
  uint64_t seq_ = 0;
};

TEST_F(EnrichmentEndToEndTest, NewDestinationShowsPtrAndOwnerWithinSeconds) {
  ASSERT_OK_AND_ASSIGN(auto dns, ::egress::testing::Dnsmasq::Start(
                                     {"ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
                                      "host-record=mail.example.test,192.0.2.7"}));
  StartService(dns->address());
  Ingest("192.0.2.7");
  const absl::Time ingested = absl::Now();
  v1::ListConnectionsResponse response;
  do {
    response = List();
    ASSERT_EQ(response.connections_size(), 1);
    if (response.connections(0).ip_info().status() == v1::IpInfo::IP_INFO_STATUS_OK) break;
    absl::SleepFor(absl::Milliseconds(100));
  } while (absl::Now() - ingested < absl::Seconds(10));
  const v1::IpInfo& info = response.connections(0).ip_info();
  EXPECT_EQ(info.status(), v1::IpInfo::IP_INFO_STATUS_OK);
  EXPECT_EQ(info.ptr(), "mail.example.test");
  EXPECT_TRUE(info.ptr_confirmed());
  EXPECT_EQ(info.asn(), 64500u);
  EXPECT_EQ(info.as_name(), "Example Networks B.V.");
  EXPECT_EQ(info.country(), "NL");
  EXPECT_LT(absl::Now() - ingested, absl::Seconds(10));

  // The admin view agrees.
  auto admin = v1::AccountsService::NewStub(channel_);
  v1::LookupIpRequest lookup;
  lookup.set_ip("192.0.2.7");
  v1::LookupIpResponse looked_up;
  grpc::ClientContext context;
  Authorize(&context, ::egress::testing::AdminToken());
  ASSERT_TRUE(admin->LookupIp(&context, lookup, &looked_up).ok());
  EXPECT_EQ(looked_up.ip_info().ptr(), "mail.example.test");
  EXPECT_GT(looked_up.expire_time().seconds(), absl::ToUnixSeconds(absl::Now()));

  // And so does `egressctl lookup --refresh`.
  std::ostringstream out, err;
  ctl::CommandContext ctl_context;
  ctl_context.channel = channel_;
  ctl_context.token = ::egress::testing::AdminToken();
  ctl_context.out = &out;
  ctl_context.err = &err;
  ctl::CommandOptions ctl_options;
  ctl_options.refresh = true;
  EXPECT_EQ(ctl::RunCommand({"lookup", "192.0.2.7"}, ctl_options, ctl_context), ctl::kExitOk)
      << err.str();
  EXPECT_THAT(out.str(), ::testing::AllOf(::testing::HasSubstr("mail.example.test"),
                                          ::testing::HasSubstr("AS64500"),
                                          ::testing::HasSubstr("IP_INFO_STATUS_OK")));
  EXPECT_EQ(ctl::RunCommand({"lookup", "not-an-ip"}, ctl_options, ctl_context), ctl::kExitRpcError);
  EXPECT_THAT(err.str(), ::testing::HasSubstr("INVALID_ARGUMENT: ip:"));
}

TEST_F(EnrichmentEndToEndTest, SilentDnsNeverDelaysThePanel) {
  ASSERT_OK_AND_ASSIGN(auto silent, ::egress::testing::FakeUdpDnsServer::Start(-1));
  StartService(silent->address());
  Ingest("192.0.2.9");
  const absl::Time start = absl::Now();
  v1::ListConnectionsResponse response = List();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  ASSERT_EQ(response.connections_size(), 1);
  EXPECT_EQ(response.connections(0).ip(), "192.0.2.9");
  EXPECT_NE(response.connections(0).ip_info().status(), v1::IpInfo::IP_INFO_STATUS_OK);
  EXPECT_TRUE(response.connections(0).ip_info().ptr().empty());
}

}  // namespace
}  // namespace egress
