// AbuseService.FindConnections against the real service and PostgreSQL:
// records ingested through agent streams (journal and fold, as shipped),
// dedicated IPs changed mid-day, and the question an abuse report asks: who
// connected to D, from which of our addresses.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "tests/support/admin_calls.h"
#include "tests/support/agent_client.h"
#include "tests/support/journal_fold.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AgentClient;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Sent {
  uint32_t uid;
  std::string ip;  // 4 raw bytes
  v1::Protocol protocol;
  uint32_t port;
  v1::Action action;
  uint64_t count;
};

std::string V4(int a, int b, int c, int d) {
  return std::string(
      {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)});
}

class AbuseFindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = ::egress::testing::FreshDatabase();
    DatabaseOptions database_options;
    database_options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(database_options));
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(options, deps));
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-01", "198.51.100.1"));
    ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-02", "198.51.100.2"));
    ASSERT_OK(SetDedicatedIp("alice", "web-01", 1001, "198.51.100.10"));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "bob", "web-01", 1002));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "carol", "web-02", 2001));
    stub_ = v1::AbuseService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(2));
  }

  absl::Status SetDedicatedIp(const std::string& account, const std::string& node, uint32_t uid,
                              const std::string& ip) {
    v1::UpsertAccountRequest request;
    request.mutable_account()->set_account_id(account);
    request.mutable_account()->set_node_id(node);
    request.mutable_account()->set_uid(uid);
    v1::DedicatedIp* dedicated = request.mutable_account()->add_dedicated_ips();
    dedicated->set_ip(ip);
    dedicated->mutable_order_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 10);
    v1::Account out;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, ::egress::testing::AdminToken());
    grpc::Status status =
        v1::AccountsService::NewStub(channel_)->UpsertAccount(&context, request, &out);
    if (!status.ok()) return absl::InternalError(status.error_message());
    return absl::OkStatus();
  }

  // One batch from `node`'s agent, seen now; waits until it is folded into
  // the daily counts.
  void Ingest(const std::string& node, const std::vector<Sent>& records) {
    AgentClient agent(channel_, ::egress::testing::NodeToken(node));
    ASSERT_TRUE(agent.SendHello(node));
    auto welcome = agent.NextOfKind(v1::ServiceMessage::kWelcome);
    ASSERT_TRUE(welcome.has_value());
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(welcome->welcome().last_committed_seq() + 1);
    const absl::Time now = absl::Now();
    const absl::CivilDay day = DayOf(now, absl::UTCTimeZone());
    for (const Sent& sent : records) {
      v1::ConnectionRecord* record = message.mutable_batch()->add_records();
      record->set_uid(sent.uid);
      record->mutable_day()->set_year(static_cast<int32_t>(day.year()));
      record->mutable_day()->set_month(day.month());
      record->mutable_day()->set_day(day.day());
      record->set_dst_ip(sent.ip);
      record->set_protocol(sent.protocol);
      record->set_dst_port(sent.port);
      record->set_action(sent.action);
      record->set_count(sent.count);
      // Exact to the microsecond: the address history is compared with them.
      for (google::protobuf::Timestamp* seen :
           {record->mutable_first_seen(), record->mutable_last_seen()}) {
        seen->set_seconds(absl::ToUnixSeconds(now));
        seen->set_nanos(static_cast<int32_t>(absl::ToUnixMicros(now) % 1000000 * 1000));
      }
    }
    ASSERT_TRUE(agent.Send(message));
    auto ack = agent.NextOfKind(v1::ServiceMessage::kAck);
    ASSERT_TRUE(ack.has_value());
    ASSERT_EQ(ack->ack().accepted_records(), records.size());
    agent.CloseSend();
    (void)agent.Finish();
    ASSERT_OK(::egress::testing::WaitForJournalFolded(conninfo_));
  }

  grpc::Status Find(const v1::FindConnectionsRequest& request, v1::FindConnectionsResponse* out,
                    const std::string& token = ::egress::testing::AdminToken()) {
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, token);
    return stub_->FindConnections(&context, request, out);
  }

  // Every match of `request`, one page of `page_size` at a time.
  std::vector<v1::AbuseMatch> FindAll(v1::FindConnectionsRequest request, int page_size = 0) {
    std::vector<v1::AbuseMatch> all;
    request.set_page_size(page_size);
    do {
      v1::FindConnectionsResponse page;
      const grpc::Status status = Find(request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      if (page_size > 0) {
        EXPECT_LE(page.matches_size(), page_size);
      }
      all.insert(all.end(), page.matches().begin(), page.matches().end());
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return all;
  }

  // The abuse report scenario: alice (dedicated IP .10, then .11 from the
  // middle of the day) and bob (the server's address) on web-01 sent mail to
  // 203.0.113.7; carol on web-02 fetched a page from 203.0.113.99.
  void IngestScenario() {
    const std::string target = V4(203, 0, 113, 7);
    Ingest("web-01", {{1001, target, v1::PROTOCOL_TCP, 25, v1::ACTION_ACCEPT, 3},
                      {1002, target, v1::PROTOCOL_TCP, 25, v1::ACTION_REJECT, 2},
                      {1001, V4(192, 0, 2, 1), v1::PROTOCOL_TCP, 25, v1::ACTION_ACCEPT, 5}});
    Ingest("web-02", {{2001, V4(203, 0, 113, 99), v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT, 1}});
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_OK(SetDedicatedIp("alice", "web-01", 1001, "198.51.100.11"));
    absl::SleepFor(absl::Milliseconds(20));
    Ingest("web-01", {{1001, target, v1::PROTOCOL_TCP, 25, v1::ACTION_ACCEPT, 4}});
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AbuseService::Stub> stub_;
};

std::string Summary(const v1::AbuseMatch& m) {
  std::vector<std::string> egress(m.egress_addresses().begin(), m.egress_addresses().end());
  std::sort(egress.begin(), egress.end());
  return absl::StrCat(m.account_id(), " ", absl::StrJoin(m.node_ids(), ","), " ",
                      m.action() == v1::ACTION_ACCEPT ? "ACCEPT" : "REJECT", " ", m.count(), " ",
                      m.destinations(), " ", absl::StrJoin(egress, ","));
}

TEST_F(AbuseFindTest, FindsExactlyTheAccountsThatConnectedWithTheAddressTheyUsedThen) {
  IngestScenario();
  v1::FindConnectionsRequest host;
  host.set_destination("203.0.113.7");
  std::vector<std::string> found;
  for (const v1::AbuseMatch& m : FindAll(host)) found.push_back(Summary(m));
  // alice's 3 + 4 connections were made from .10 and then .11; bob used the
  // server's address.
  EXPECT_THAT(found, ElementsAre("alice web-01 ACCEPT 7 1 198.51.100.10,198.51.100.11",
                                 "bob web-01 REJECT 2 1 198.51.100.1"));

  v1::FindConnectionsRequest network;
  network.set_destination("203.0.113.0/24");
  found.clear();
  for (const v1::AbuseMatch& m : FindAll(network)) found.push_back(Summary(m));
  EXPECT_THAT(found, ElementsAre("alice web-01 ACCEPT 7 1 198.51.100.10,198.51.100.11",
                                 "bob web-01 REJECT 2 1 198.51.100.1",
                                 "carol web-02 ACCEPT 1 1 198.51.100.2"));
  // The same matches one page at a time.
  std::vector<std::string> paged;
  for (const v1::AbuseMatch& m : FindAll(network, 1)) paged.push_back(Summary(m));
  EXPECT_EQ(paged, found);
}

TEST_F(AbuseFindTest, EgressAddressPortAndProtocolNarrowTheAnswer) {
  IngestScenario();
  v1::FindConnectionsRequest request;
  request.set_destination("203.0.113.0/24");
  // "Your address 198.51.100.11 attacked us": only alice used it.
  request.set_egress_address("198.51.100.11");
  std::vector<v1::AbuseMatch> found = FindAll(request);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].account_id(), "alice");
  // The server's address of web-01: bob (alice had a dedicated IP all along).
  request.set_egress_address("198.51.100.1");
  found = FindAll(request);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].account_id(), "bob");
  // An address nobody used.
  request.set_egress_address("198.51.100.99");
  EXPECT_TRUE(FindAll(request).empty());

  request.clear_egress_address();
  request.set_protocol(v1::PROTOCOL_TCP);
  request.set_port(443);
  found = FindAll(request);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].account_id(), "carol");
  request.set_protocol(v1::PROTOCOL_UDP);
  EXPECT_TRUE(FindAll(request).empty());

  // A day range without the records.
  request.clear_protocol();
  request.clear_port();
  const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());
  const absl::CivilDay week_ago = today - 7;
  for (v1::Date* date : {request.mutable_start_date(), request.mutable_end_date()}) {
    date->set_year(static_cast<int32_t>(week_ago.year()));
    date->set_month(week_ago.month());
    date->set_day(week_ago.day());
  }
  EXPECT_TRUE(FindAll(request).empty());
}

TEST_F(AbuseFindTest, HistoryKeepsReleasedAddressesAndMovesBetweenNodes) {
  ASSERT_OK(SetDedicatedIp("alice", "web-01", 1001, "198.51.100.11"));
  ASSERT_OK(::egress::testing::UpsertAccount(channel_, "bob", "web-02", 1002));
  pqxx::connection connection(conninfo_);
  pqxx::nontransaction query(connection);
  // alice: .10 closed, .11 open; bob: web-01 closed, web-02 open (v4 and v6).
  EXPECT_EQ(query
                .exec1("SELECT string_agg(host(address) || CASE WHEN valid_until IS NULL THEN '+' "
                       "ELSE '-' END, ' ' ORDER BY valid_from) FROM egress_account_address_log "
                       "WHERE account_id = 'alice' AND family = 4")[0]
                .c_str(),
            std::string("198.51.100.10- 198.51.100.11+"));
  EXPECT_EQ(query
                .exec1("SELECT string_agg(node_id || CASE WHEN valid_until IS NULL THEN '+' "
                       "ELSE '-' END, ' ' ORDER BY valid_from, family) FROM "
                       "egress_account_address_log WHERE account_id = 'bob'")[0]
                .c_str(),
            std::string("web-01- web-01- web-02+ web-02+"));
  // A new server address closes the node's old one.
  ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-02", "198.51.100.22"));
  EXPECT_EQ(query
                .exec1("SELECT string_agg(host(address) || CASE WHEN valid_until IS NULL THEN "
                       "'+' ELSE '-' END, ' ' ORDER BY valid_from) FROM egress_node_address_log "
                       "WHERE node_id = 'web-02' AND family = 4")[0]
                .c_str(),
            std::string("198.51.100.2- 198.51.100.22+"));
}

TEST_F(AbuseFindTest, BadRequestsAreRefusedNamingTheField) {
  const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());
  auto set_day = [](v1::Date* date, absl::CivilDay day) {
    date->set_year(static_cast<int32_t>(day.year()));
    date->set_month(day.month());
    date->set_day(day.day());
  };
  struct Case {
    std::string name;
    std::function<void(v1::FindConnectionsRequest&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"no destination", [](auto& r) { r.clear_destination(); }, "destination"},
      {"not an address", [](auto& r) { r.set_destination("mail.example"); }, "destination"},
      {"too wide v4", [](auto& r) { r.set_destination("10.0.0.0/8"); }, "destination"},
      {"too wide v6", [](auto& r) { r.set_destination("2001:db8::/16"); }, "destination"},
      {"host bits", [](auto& r) { r.set_destination("203.0.113.7/24"); }, "destination"},
      {"port range", [](auto& r) { r.set_port(65536); }, "port"},
      {"port with icmp",
       [](auto& r) {
         r.set_protocol(v1::PROTOCOL_ICMP);
         r.set_port(25);
       },
       "port"},
      {"unknown protocol", [](auto& r) { r.set_protocol(static_cast<v1::Protocol>(99)); },
       "protocol"},
      {"egress family", [](auto& r) { r.set_egress_address("2001:db8::1"); }, "egress_address"},
      {"egress text", [](auto& r) { r.set_egress_address("198.51.100"); }, "egress_address"},
      {"end in the future", [&](auto& r) { set_day(r.mutable_end_date(), today + 3); }, "end_date"},
      {"start after end",
       [&](auto& r) {
         set_day(r.mutable_start_date(), today - 1);
         set_day(r.mutable_end_date(), today - 2);
       },
       "start_date"},
      {"range too long", [&](auto& r) { set_day(r.mutable_start_date(), today - 200); },
       "start_date"},
      {"bad date", [](auto& r) { r.mutable_end_date()->set_month(13); }, "end_date"},
      {"page size", [](auto& r) { r.set_page_size(5000); }, "page_size"},
      {"page token", [](auto& r) { r.set_page_token("bm90IGEgdG9rZW4"); }, "page_token"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::FindConnectionsRequest request;
    request.set_destination("203.0.113.0/24");
    c.edit(request);
    v1::FindConnectionsResponse response;
    const grpc::Status status = Find(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
  // Only admins ask.
  v1::FindConnectionsRequest request;
  request.set_destination("203.0.113.7");
  v1::FindConnectionsResponse response;
  EXPECT_EQ(Find(request, &response, ::egress::testing::PanelToken("alice")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace egress
