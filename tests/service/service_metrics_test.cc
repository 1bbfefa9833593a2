// egress-service's /metrics: a real replica on a real PostgreSQL, a scripted
// agent over gRPC, and scrapes over HTTP before and after. The counters must
// move by exactly what was sent.
#include "service/service_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/ip_address.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/server.h"
#include "tests/support/admin_calls.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"

namespace egress {
namespace {

using ::egress::testing::AgentClient;
using ::egress::testing::FreshDatabase;
using ::egress::testing::NodeToken;
using ::testing::HasSubstr;
namespace v1 = ::egress::v1;

// GET /metrics over a plain socket; the body, after checking the status line.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  close(fd);
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The value of one series ("name" or "name{a=\"x\",b=\"y\"}", labels in name order as
// prometheus-cpp writes them), or -1 when absent.
double Value(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double value = 0;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(series.size() + 1), &value)) << line;
      return value;
    }
  }
  return -1;
}

class ServiceMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.conninfo = FreshDatabase();
    database_ = *Database::Connect(options);
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.metrics_listen = "127.0.0.1:0";
    server_options.ingest_mode = ingest_mode_;
    server_options.ingest_fold_interval = absl::Milliseconds(20);
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    auto server = EgressServer::Start(server_options, deps);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->metrics_port(), 0);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    admin_ = v1::AccountsService::NewStub(channel_);

    ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-01", "198.51.100.10"));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "alice", "web-01", 1001));
  }

  v1::ConnectionRecord Record(const std::string& ip4, uint32_t port, uint64_t count) {
    const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());
    v1::ConnectionRecord record;
    record.set_uid(1001);
    record.mutable_day()->set_year(static_cast<int32_t>(today.year()));
    record.mutable_day()->set_month(today.month());
    record.mutable_day()->set_day(today.day());
    const IpAddress ip = *IpAddress::Parse(ip4);
    record.set_dst_ip(
        std::string(reinterpret_cast<const char*>(ip.bytes().data()), ip.bytes().size()));
    record.set_protocol(v1::PROTOCOL_TCP);
    record.set_dst_port(port);
    record.set_action(v1::ACTION_ACCEPT);
    record.set_count(count);
    record.mutable_first_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
    record.mutable_last_seen()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    return record;
  }

  IngestMode ingest_mode_ = IngestMode::kDirect;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AccountsService::Stub> admin_;
};

TEST_F(ServiceMetricsTest, IngestCountersMoveByExactlyWhatWasSent) {
  const int port = server_->metrics_port();
  const std::string before = Scrape(port);
  EXPECT_EQ(Value(before, "egress_ingest_records_total"), 0);
  EXPECT_EQ(Value(before, "egress_agent_streams"), 0);
  EXPECT_EQ(Value(before, "egress_nodes"), 1);
  // The node has never applied its rule set.
  EXPECT_EQ(Value(before, "egress_nodes_rule_version_pending"), 1);
  EXPECT_EQ(Value(before, "egress_database_up"), 1);
  EXPECT_EQ(Value(before, "egress_db_pool_max_connections"), DatabaseOptions().pool_size);
  EXPECT_EQ(Value(before,
                  "egress_rpc_requests_total{code=\"OK\","
                  "method=\"egress.v1.AccountsService/UpsertNode\"}"),
            1);
  EXPECT_EQ(Value(before,
                  "egress_rpc_duration_seconds_count{code=\"OK\","
                  "method=\"egress.v1.AccountsService/UpsertAccount\"}"),
            1);

  AgentClient agent(channel_, NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
  v1::AgentMessage batch;
  batch.mutable_batch()->set_seq(1);
  *batch.mutable_batch()->add_records() = Record("203.0.113.1", 443, 5);
  *batch.mutable_batch()->add_records() = Record("203.0.113.2", 443, 1);
  *batch.mutable_batch()->add_records() = Record("203.0.113.3", 25, 2);
  ASSERT_TRUE(agent.Send(batch));
  auto ack = agent.NextOfKind(v1::ServiceMessage::kAck);
  ASSERT_TRUE(ack.has_value());
  EXPECT_FALSE(ack->ack().duplicate());
  ASSERT_TRUE(agent.Send(batch));  // resent: acknowledged again, nothing changes
  ack = agent.NextOfKind(v1::ServiceMessage::kAck);
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->ack().duplicate());

  const std::string during = Scrape(port);
  EXPECT_EQ(Value(during, "egress_ingest_records_total"), 3);
  EXPECT_EQ(Value(during, "egress_ingest_batches_total{result=\"committed\"}"), 1);
  EXPECT_EQ(Value(during, "egress_ingest_batches_total{result=\"duplicate\"}"), 1);
  EXPECT_EQ(Value(during, "egress_ingest_acks_total"), 2);
  EXPECT_EQ(Value(during, "egress_ingest_ack_latency_seconds_count"), 2);
  EXPECT_GT(Value(during, "egress_ingest_ack_latency_seconds_sum"), 0);
  EXPECT_EQ(Value(during, "egress_agent_streams"), 1);
  EXPECT_EQ(Value(during, "egress_agent_streams_opened_total"), 1);

  // A batch the service refuses ends the stream with INVALID_ARGUMENT.
  v1::AgentMessage bad;
  bad.mutable_batch()->set_seq(0);
  *bad.mutable_batch()->add_records() = Record("203.0.113.4", 80, 1);
  ASSERT_TRUE(agent.Send(bad));
  EXPECT_EQ(agent.Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // An unauthenticated admin call.
  v1::ListAccountsRequest list;
  v1::ListAccountsResponse list_out;
  grpc::ClientContext anonymous;
  EXPECT_EQ(admin_->ListAccounts(&anonymous, list, &list_out).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  std::string after;
  // The stream's end is counted when its status goes out; the agent may see
  // it a moment before the interceptor runs.
  for (int i = 0; i < 100; ++i) {
    after = Scrape(port);
    if (Value(after, "egress_agent_streams") == 0 &&
        Value(after, "egress_ingest_batches_unacked_total{code=\"INVALID_ARGUMENT\"}") == 1) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Value(after, "egress_ingest_records_total"), 3);
  EXPECT_EQ(Value(after, "egress_ingest_batches_unacked_total{code=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(Value(after, "egress_agent_streams"), 0);
  EXPECT_EQ(Value(after,
                  "egress_rpc_requests_total{code=\"INVALID_ARGUMENT\","
                  "method=\"egress.v1.CollectorService/Connect\"}"),
            1);
  EXPECT_EQ(Value(after,
                  "egress_rpc_requests_total{code=\"UNAUTHENTICATED\","
                  "method=\"egress.v1.AccountsService/ListAccounts\"}"),
            1);
  // Streams are counted but not timed as if they were calls.
  EXPECT_EQ(Value(after,
                  "egress_rpc_duration_seconds_count{code=\"INVALID_ARGUMENT\","
                  "method=\"egress.v1.CollectorService/Connect\"}"),
            -1);
  // What PostgreSQL holds agrees with the counter.
  pqxx::connection connection(database_->options().conninfo);
  pqxx::nontransaction work(connection);
  EXPECT_EQ(work.exec("SELECT count(*) FROM connection_daily")[0][0].as<int64_t>(), 3);
  EXPECT_EQ(work.exec("SELECT sum(count) FROM connection_daily")[0][0].as<int64_t>(), 8);
}

class ServiceMetricsJournalTest : public ServiceMetricsTest {
 protected:
  ServiceMetricsJournalTest() { ingest_mode_ = IngestMode::kJournal; }
};

// Journal mode: the fold counters say what reached the daily counts.
TEST_F(ServiceMetricsJournalTest, FoldCountersMatchWhatReachedTheDailyCounts) {
  const int port = server_->metrics_port();
  const std::string before = Scrape(port);
  EXPECT_EQ(Value(before, "egress_ingest_journal_records_folded_total"), 0);
  EXPECT_EQ(Value(before, "egress_ingest_journal_full"), 0);
  EXPECT_EQ(Value(before, "egress_ingest_journal_full_total"), 0);

  AgentClient agent(channel_, NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
  v1::AgentMessage batch;
  batch.mutable_batch()->set_seq(1);
  *batch.mutable_batch()->add_records() = Record("203.0.113.1", 443, 5);
  *batch.mutable_batch()->add_records() = Record("203.0.113.2", 443, 1);
  *batch.mutable_batch()->add_records() = Record("203.0.113.1", 443, 2);  // same key: merged
  ASSERT_TRUE(agent.Send(batch));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kAck).has_value());

  std::string after;
  for (int i = 0; i < 250; ++i) {
    after = Scrape(port);
    if (Value(after, "egress_ingest_journal_rows_written_total") >= 2) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(Value(after, "egress_ingest_journal_records_folded_total"), 2);
  EXPECT_EQ(Value(after, "egress_ingest_journal_rows_written_total"), 2);
  EXPECT_GE(Value(after, "egress_ingest_journal_folds_total"), 1);
  EXPECT_EQ(Value(after, "egress_ingest_journal_fold_failures_total"), 0);
  EXPECT_EQ(Value(after, "egress_ingest_journal_full"), 0);
  EXPECT_EQ(Value(after, "egress_ingest_journal_full_total"), 0);
  pqxx::connection connection(database_->options().conninfo);
  pqxx::nontransaction work(connection);
  EXPECT_EQ(work.exec("SELECT count(*) FROM connection_daily")[0][0].as<int64_t>(), 2);
  EXPECT_EQ(work.exec("SELECT sum(count) FROM connection_daily")[0][0].as<int64_t>(), 8);
  EXPECT_EQ(work.exec("SELECT count(*) FROM ingest_journal")[0][0].as<int64_t>(), 0);
}

TEST(ServiceMetricsListenTest, AnAddressInUseFailsStart) {
  DatabaseOptions options;
  options.conninfo = FreshDatabase();
  auto database = *Database::Connect(options);
  ServerOptions first_options;
  first_options.listen_address = "127.0.0.1:0";
  first_options.metrics_listen = "127.0.0.1:0";
  ServerDependencies deps{database.get(), &::egress::testing::TestSigner()};
  auto first = EgressServer::Start(first_options, deps);
  ASSERT_TRUE(first.ok()) << first.status();
  ServerOptions second_options = first_options;
  second_options.metrics_listen = absl::StrCat("127.0.0.1:", (*first)->metrics_port());
  auto second = EgressServer::Start(second_options, deps);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("metrics-listen"));
}

}  // namespace
}  // namespace egress
