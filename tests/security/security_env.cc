#include "tests/security/security_env.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/ip_address.h"
#include "grpcpp/create_channel.h"
#include "pqxx/pqxx"
#include "tests/support/agent_client.h"
#include "tests/support/journal_fold.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {

namespace v1 = ::egress::v1;

void SecurityEnv::SetUp() {
  conninfo_ = FreshDatabase();
  DatabaseOptions db;
  db.conninfo = conninfo_;
  absl::StatusOr<std::unique_ptr<Database>> database = Database::Connect(db);
  ASSERT_TRUE(database.ok()) << database.status();
  database_ = *std::move(database);
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.time_zone = absl::UTCTimeZone();
  absl::StatusOr<std::unique_ptr<EgressServer>> server =
      EgressServer::Start(options, ServerDependencies{database_.get(), &TestSigner()});
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  accounts_ = v1::AccountsService::NewStub(channel_);
  connections_ = v1::ConnectionsService::NewStub(channel_);
  antivirus_ = v1::AntivirusService::NewStub(channel_);
  abuse_ = v1::AbuseService::NewStub(channel_);
  today_ = DayOf(absl::Now(), absl::UTCTimeZone());

  const std::string admin = AdminToken();
  for (const auto& [id, ip] : std::vector<std::pair<std::string, std::string>>{
           {kNodeA, "198.51.100.10"}, {kNodeB, "198.51.100.20"}}) {
    v1::UpsertNodeRequest request;
    request.mutable_node()->set_node_id(id);
    request.mutable_node()->set_server_ipv4(ip);
    request.mutable_node()->add_exempt_networks("10.0.0.0/8");
    v1::Node node;
    grpc::ClientContext context;
    Prepare(&context, admin);
    grpc::Status status = accounts_->UpsertNode(&context, request, &node);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  struct Seed {
    std::string id, node;
    uint32_t uid;
    std::string dedicated;
  };
  for (const Seed& seed : std::vector<Seed>{{kAlice, kNodeA, kAliceUid, "203.0.113.5"},
                                            {kBob, kNodeA, 1002, ""},
                                            {kCarol, kNodeB, kCarolUid, ""}}) {
    v1::UpsertAccountRequest request;
    request.mutable_account()->set_account_id(seed.id);
    request.mutable_account()->set_node_id(seed.node);
    request.mutable_account()->set_uid(seed.uid);
    if (!seed.dedicated.empty()) {
      auto* ip = request.mutable_account()->add_dedicated_ips();
      ip->set_ip(seed.dedicated);
      ip->mutable_order_time()->set_seconds(1700000000);
    }
    v1::Account account;
    grpc::ClientContext context;
    Prepare(&context, admin);
    grpc::Status status = accounts_->UpsertAccount(&context, request, &account);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  {
    v1::BlockDestinationRequest request;
    request.set_account_id(kAlice);
    request.set_destination("192.0.2.1");
    request.set_protocol(v1::PROTOCOL_TCP);
    request.set_port(443);
    request.set_note("seed");
    v1::BlockRule rule;
    grpc::ClientContext context;
    Prepare(&context, PanelToken(kAlice));
    grpc::Status status = connections_->BlockDestination(&context, request, &rule);
    ASSERT_TRUE(status.ok()) << status.error_message();
    seed_rule_id_ = rule.rule_id();
  }
  {
    AgentClient agent(channel_, NodeToken(kNodeA));
    ASSERT_TRUE(agent.SendHello(kNodeA));
    ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
    v1::AgentMessage batch;
    batch.mutable_batch()->set_seq(1);
    for (int host : {10, 11, 12}) *batch.mutable_batch()->add_records() = Record(kAliceUid, host);
    *batch.mutable_batch()->add_records() = Record(1002, 20);
    ASSERT_TRUE(agent.Send(batch));
    std::optional<v1::ServiceMessage> ack = agent.NextOfKind(v1::ServiceMessage::kAck);
    ASSERT_TRUE(ack.has_value());
    ASSERT_EQ(ack->ack().accepted_records(), 4u);
    agent.CloseSend();
    ASSERT_TRUE(agent.Finish().ok());
  }
  // Folded before any test reads the counts or compares dumps.
  const absl::Status folded = ::egress::testing::WaitForJournalFolded(conninfo_);
  ASSERT_TRUE(folded.ok()) << folded;
}

void SecurityEnv::TearDown() {
  if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(1));
}

std::string SecurityEnv::Dump(const std::set<std::string>& skip) {
  // Acknowledged batches are folded into the counts in the background; wait
  // for that first, so that two dumps differ only by what happened between.
  const absl::Status folded = ::egress::testing::WaitForJournalFolded(conninfo_);
  EXPECT_TRUE(folded.ok()) << folded;
  // One round trip on a kept connection: the whole matrix dumps hundreds of
  // times. Partitions are read through their parent table.
  if (dump_connection_ == nullptr) dump_connection_ = std::make_unique<pqxx::connection>(conninfo_);
  pqxx::nontransaction work(*dump_connection_);
  std::string query;
  for (const pqxx::row& table :
       work.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                 "ORDER BY c.relname")) {
    const std::string name = table[0].as<std::string>();
    if (skip.count(name) > 0) continue;
    absl::StrAppend(&query, query.empty() ? "SELECT " : " || ", "'== ", name,
                    "\n' || coalesce((SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM ",
                    work.quote_name(name), " t), '') || E'\\n'");
  }
  return work.exec1(query)[0].as<std::string>();
}

void SecurityEnv::Prepare(grpc::ClientContext* context, const std::string& token) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) Authorize(context, token);
}

v1::ConnectionRecord SecurityEnv::Record(uint32_t uid, int host) const {
  v1::ConnectionRecord record;
  record.set_uid(uid);
  record.mutable_day()->set_year(static_cast<int32_t>(today_.year()));
  record.mutable_day()->set_month(today_.month());
  record.mutable_day()->set_day(today_.day());
  const IpAddress ip = IpAddress::FromV4((192u << 24) | (2u << 8) | static_cast<uint32_t>(host));
  record.set_dst_ip(
      std::string(reinterpret_cast<const char*>(ip.bytes().data()), ip.bytes().size()));
  record.set_protocol(v1::PROTOCOL_TCP);
  record.set_dst_port(443);
  record.set_action(v1::ACTION_ACCEPT);
  record.set_count(3);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  record.mutable_first_seen()->set_seconds(now - 60);
  record.mutable_last_seen()->set_seconds(now - 1);
  return record;
}

v1::AgentMessage SecurityEnv::Batch(std::vector<v1::ConnectionRecord> records) {
  v1::AgentMessage message;
  message.mutable_batch()->set_seq(next_seq_++);
  for (auto& record : records) *message.mutable_batch()->add_records() = std::move(record);
  return message;
}

}  // namespace egress::testing
