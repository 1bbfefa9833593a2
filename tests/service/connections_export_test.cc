// ExportConnections over real gRPC against a real PostgreSQL: the CSV holds
// exactly the rows ListConnections pages through for the same filters, in
// the same order, quoted per RFC 4180, with formula-like cells neutralised;
// and the same authorization and validation as ListConnections.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/connections_service.h"
#include "tests/service/connections_test_env.h"
#include "tools/egressctl/commands.h"

namespace egress {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = ::egress::v1;
using Stub = v1::ConnectionsService::Stub;

constexpr int kRows = 3000;
// What enrichment could have stored for an address whose owner picks its
// own PTR name: a comma, quotes, a line break, and a formula.
constexpr char kNastyPtr[] = "=HYPERLINK(\"http://x.example/?a,b\")\nrow.example";
constexpr char kNastyOwner[] = "Evil \"Quoted\", Inc.";

// RFC 4180 records (CRLF or LF line ends; quoted fields may hold both).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // the LF ends the record
    } else if (c == '\n') {
      record.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(record));
      record.clear();
    } else {
      field.push_back(c);
    }
  }
  EXPECT_TRUE(field.empty() && record.empty()) << "the file does not end with a line end";
  return records;
}

class ConnectionsExportTest : public testing::PanelTest {
 protected:
  void SetUp() override {
    testing::PanelTest::SetUp();
    if (HasFatalFailure()) return;
    Sql(absl::StrCat(testing::SyntheticDaySql(kRows, "2026-03-10T01:00:00.5Z"),
                     testing::kDayTotalsFromRowsSql, R"sql(
      INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network,
                           looked_up_at)
      VALUES ('10.0.0.1', 2, 'one.example.net', true, 64500, 'Example Networks', 'NL',
              '10.0.0.0/24', '2026-03-10T05:00:00Z'),
             ('10.0.0.3', 3, '', false, 0, '', '', NULL, '2026-03-10T05:00:00Z');
      INSERT INTO block_rules (account_id, network, protocol, port, note, created_by)
      VALUES ('alice', '10.0.0.0/24', 0, 0, '', 'test'), ('alice', '10.0.0.1/32', 0, 0, '', 'test');
    )sql"));
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    work.exec_params(
        "INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, "
        "looked_up_at) VALUES ('10.0.0.2', 2, $1, false, 64501, $2, 'UA', '10.0.0.0/30', now())",
        std::string(kNastyPtr), std::string(kNastyOwner));
    work.commit();
  }

  v1::ExportConnectionsRequest Request() {
    v1::ExportConnectionsRequest request;
    request.set_account_id("alice");
    request.mutable_date()->set_year(2026);
    request.mutable_date()->set_month(3);
    request.mutable_date()->set_day(10);
    return request;
  }

  struct Export {
    grpc::Status status;
    std::string csv;
    std::vector<size_t> chunk_sizes;
    uint64_t rows = 0;
  };
  Export Run(const v1::ExportConnectionsRequest& request, const std::string& token) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    std::unique_ptr<grpc::ClientReader<v1::ExportConnectionsChunk>> reader =
        connections_->ExportConnections(&context, request);
    Export out;
    v1::ExportConnectionsChunk chunk;
    while (reader->Read(&chunk)) {
      out.csv += chunk.csv();
      out.chunk_sizes.push_back(chunk.csv().size());
      out.rows += chunk.rows();
    }
    out.status = reader->Finish();
    return out;
  }

  // "ip/protocol/port/action" of every row ListConnections lists, all pages.
  std::vector<std::string> ListedKeys(const v1::ExportConnectionsRequest& export_request) {
    v1::ListConnectionsRequest request;
    request.set_account_id(export_request.account_id());
    *request.mutable_date() = export_request.date();
    request.set_ip_filter(export_request.ip_filter());
    request.set_action(export_request.action());
    request.set_order_by(export_request.order_by());
    request.set_reverse(export_request.reverse());
    request.set_page_size(1000);
    std::vector<std::string> keys;
    for (;;) {
      v1::ListConnectionsResponse response;
      grpc::Status status =
          Call(connections_.get(), &Stub::ListConnections, alice_, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::Connection& c : response.connections()) {
        keys.push_back(absl::StrCat(c.ip(), "/", v1::Protocol_Name(c.protocol()), "/", c.port(),
                                    "/", v1::Action_Name(c.action())));
      }
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return keys;
  }

  static std::vector<std::string> CsvKeys(const std::vector<std::vector<std::string>>& records) {
    std::vector<std::string> keys;
    for (size_t i = 1; i < records.size(); ++i) {
      const std::vector<std::string>& r = records[i];
      keys.push_back(absl::StrCat(r[1], "/PROTOCOL_", r[8] == "ICMPv6" ? "ICMPV6" : r[8], "/", r[9],
                                  "/ACTION_", r[10]));
    }
    return keys;
  }
};

TEST_F(ConnectionsExportTest, TheWholeDayInListOrderInBoundedChunks) {
  Export out = Run(Request(), alice_);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  std::vector<std::vector<std::string>> records = ParseCsv(out.csv);
  ASSERT_EQ(records.size(), kRows + 1u);
  EXPECT_EQ(out.rows, static_cast<uint64_t>(kRows));
  EXPECT_EQ(absl::StrJoin(records[0], ","),
            "date,ip,ptr,ptr_status,owner,asn,country,network,protocol,port,action,count,"
            "first_seen,last_seen,blocking_rule_ids");
  for (const auto& r : records) ASSERT_EQ(r.size(), 15u) << absl::StrJoin(r, "|");
  EXPECT_EQ(CsvKeys(records), ListedKeys(Request()));
  // Several chunks, none much above the chunk size (whole rows).
  EXPECT_GT(out.chunk_sizes.size(), 3u);
  for (size_t size : out.chunk_sizes) EXPECT_LT(size, kExportChunkBytes + 1024);
  EXPECT_EQ(out.csv.find("\xEF\xBB\xBF"), std::string::npos);
  EXPECT_THAT(out.csv, StartsWith("date,"));
  EXPECT_EQ(out.csv.substr(out.csv.size() - 2), "\r\n");

  // The enriched, blocked and formula-like rows.
  bool saw_one = false, saw_nasty = false, saw_no_ptr = false;
  for (const auto& r : records) {
    if (r[1] == "10.0.0.1") {
      saw_one = true;
      EXPECT_THAT(r, ElementsAre("2026-03-10", "10.0.0.1", "one.example.net", "ok",
                                 "Example Networks", "64500", "NL", "10.0.0.0/24", "UDP", "14",
                                 "ACCEPT", ::testing::_, ::testing::_, ::testing::_, "1 2"));
    } else if (r[1] == "10.0.0.2") {
      saw_nasty = true;
      EXPECT_EQ(r[2], absl::StrCat("'", kNastyPtr));
      EXPECT_EQ(r[4], kNastyOwner);
      EXPECT_EQ(r[14], "1");
    } else if (r[1] == "10.0.0.3") {
      saw_no_ptr = true;
      EXPECT_EQ(r[2], "");
      EXPECT_EQ(r[3], "no_ptr");
    } else if (r[1] == "10.0.0.4") {
      EXPECT_EQ(r[3], "pending");
      EXPECT_EQ(r[5], "");
      // first seen 00:02:04, last seen 01:02:28.5 UTC (the service zone).
      EXPECT_EQ(r[12], "2026-03-10T00:02:04+00:00");
      EXPECT_EQ(r[13], "2026-03-10T01:02:28+00:00");
    }
  }
  EXPECT_TRUE(saw_one && saw_nasty && saw_no_ptr);
  // The nasty cells, byte for byte: quoted, quotes doubled, the formula
  // behind an apostrophe.
  EXPECT_THAT(out.csv, HasSubstr("\"'=HYPERLINK(\"\"http://x.example/?a,b\"\")\nrow.example\",ok,"
                                 "\"Evil \"\"Quoted\"\", Inc.\",64501,UA,"));
}

TEST_F(ConnectionsExportTest, HonoursFilterActionAndSortLikeTheList) {
  using Order = v1::ListConnectionsRequest;
  struct Case {
    std::string filter;
    v1::Action action;
    Order::OrderBy order;
    bool reverse;
  };
  for (const Case& c :
       {Case{"10.0.1.0/24", v1::ACTION_UNSPECIFIED, Order::ORDER_BY_IP, false},
        Case{"10.0.2", v1::ACTION_REJECT, Order::ORDER_BY_PORT, true},
        Case{"2001:db8:", v1::ACTION_ACCEPT, Order::ORDER_BY_LAST_SEEN, false},
        Case{"", v1::ACTION_REJECT, Order::ORDER_BY_IP, true},
        Case{"192.0.2.0/24", v1::ACTION_UNSPECIFIED, Order::ORDER_BY_COUNT, false}}) {
    SCOPED_TRACE(absl::StrCat(c.filter, " ", c.action, " ", c.order, " ", c.reverse));
    v1::ExportConnectionsRequest request = Request();
    request.set_ip_filter(c.filter);
    request.set_action(c.action);
    request.set_order_by(c.order);
    request.set_reverse(c.reverse);
    request.set_utf8_bom(true);
    Export out = Run(request, admin_);
    ASSERT_TRUE(out.status.ok()) << out.status.error_message();
    ASSERT_THAT(out.csv, StartsWith("\xEF\xBB\xBF"
                                    "date,"));
    std::vector<std::vector<std::string>> records = ParseCsv(out.csv.substr(3));
    ASSERT_GE(records.size(), 1u);
    EXPECT_EQ(CsvKeys(records), ListedKeys(request));
    EXPECT_EQ(out.rows, records.size() - 1);
  }
}

TEST_F(ConnectionsExportTest, SameAuthorizationAndValidationAsTheList) {
  // Another customer's day: PERMISSION_DENIED, nothing sent.
  Export other = Run(Request(), bob_);
  EXPECT_EQ(other.status.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_TRUE(other.csv.empty());
  Export anonymous = Run(Request(), "");
  EXPECT_EQ(anonymous.status.error_code(), grpc::UNAUTHENTICATED);

  v1::ExportConnectionsRequest bad_filter = Request();
  bad_filter.set_ip_filter("abc'; DROP TABLE x");
  Export filter = Run(bad_filter, alice_);
  EXPECT_EQ(filter.status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(filter.status.error_message(), StartsWith("ip_filter:"));

  v1::ExportConnectionsRequest bad_date = Request();
  bad_date.mutable_date()->set_day(31);
  bad_date.mutable_date()->set_month(2);
  Export date = Run(bad_date, alice_);
  EXPECT_EQ(date.status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(date.status.error_message(), StartsWith("date:"));

  v1::ExportConnectionsRequest bad_action = Request();
  bad_action.set_action(static_cast<v1::Action>(7));
  EXPECT_THAT(Run(bad_action, alice_).status.error_message(), StartsWith("action:"));

  v1::ExportConnectionsRequest unknown = Request();
  unknown.set_account_id("nobody");
  Export missing = Run(unknown, admin_);
  EXPECT_EQ(missing.status.error_code(), grpc::NOT_FOUND);
  EXPECT_TRUE(missing.csv.empty());

  // A day without rows: just the header.
  v1::ExportConnectionsRequest empty = Request();
  empty.mutable_date()->set_day(9);
  Export header = Run(empty, alice_);
  ASSERT_TRUE(header.status.ok()) << header.status.error_message();
  EXPECT_THAT(header.csv, StartsWith("date,ip,"));
  EXPECT_EQ(header.rows, 0u);
}

// The real store, except that exports wait until `release` before reading.
class HeldExports : public ConnectionsStore {
 public:
  explicit HeldExports(ConnectionsStore* real) : real_(*real) {}
  absl::StatusOr<std::vector<DaySummary>> ListDates(const std::string& account_id) override {
    return real_.ListDates(account_id);
  }
  absl::StatusOr<ConnectionPage> ListConnections(const ConnectionQuery& query) override {
    return real_.ListConnections(query);
  }
  absl::StatusOr<std::vector<DaySummary>> DailyCounts(const std::string& account_id,
                                                      absl::CivilDay from,
                                                      absl::CivilDay to) override {
    return real_.DailyCounts(account_id, from, to);
  }
  absl::Status ExportConnections(const ConnectionQuery& query, int batch_rows,
                                 const RowBatchSink& sink) override {
    entered.fetch_add(1);
    release.WaitForNotification();
    return real_.ExportConnections(query, batch_rows, sink);
  }
  std::atomic<int> entered{0};
  absl::Notification release;

 private:
  ConnectionsStore& real_;
};

TEST_F(ConnectionsExportTest, AtMostFourExportsAtOnceTheFifthIsResourceExhausted) {
  HeldExports held(connections_store_.get());
  ConnectionsServiceImpl service(&held, rules_store_.get(), authorizer_.get(), absl::UTCTimeZone());
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::ConnectionsService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  auto start = [&](grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context->AddMetadata("authorization", "Bearer " + alice_);
    return stub->ExportConnections(context, Request());
  };
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::ExportConnectionsChunk>>> running;
  for (int i = 0; i < kMaxConcurrentExports; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    running.push_back(start(contexts.back().get()));
  }
  for (int i = 0; i < 3000 && held.entered.load() < kMaxConcurrentExports; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(held.entered.load(), kMaxConcurrentExports);

  grpc::ClientContext fifth_context;
  std::unique_ptr<grpc::ClientReader<v1::ExportConnectionsChunk>> fifth = start(&fifth_context);
  v1::ExportConnectionsChunk chunk;
  EXPECT_FALSE(fifth->Read(&chunk));
  grpc::Status refused = fifth->Finish();
  EXPECT_EQ(refused.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("too many exports"));

  held.release.Notify();
  for (auto& reader : running) {
    uint64_t rows = 0;
    while (reader->Read(&chunk)) rows += chunk.rows();
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(rows, static_cast<uint64_t>(kRows));
  }
  // The slots are free again.
  grpc::ClientContext again_context;
  std::unique_ptr<grpc::ClientReader<v1::ExportConnectionsChunk>> again = start(&again_context);
  while (again->Read(&chunk)) {
  }
  EXPECT_TRUE(again->Finish().ok());
  server->Shutdown(std::chrono::system_clock::now());
}

TEST_F(ConnectionsExportTest, EgressctlExportWritesTheSameCsvToStdout) {
  auto ctl = [&](const std::vector<std::string>& args, const ctl::CommandOptions& options,
                 const std::string& token, std::string* out, std::string* err) {
    std::ostringstream o, e;
    ctl::CommandContext context;
    context.channel = channel_;
    context.token = token;
    context.out = &o;
    context.err = &e;
    const int code = ctl::RunCommand(args, options, context);
    *out = o.str();
    *err = e.str();
    return code;
  };
  ctl::CommandOptions options;
  options.filter = "10.0.0.0/30";
  options.order_by = "ip";
  std::string out, err;
  ASSERT_EQ(ctl({"export", "alice", "2026-03-10"}, options, alice_, &out, &err), 0) << err;
  v1::ExportConnectionsRequest request = Request();
  request.set_ip_filter("10.0.0.0/30");
  request.set_order_by(v1::ListConnectionsRequest::ORDER_BY_IP);
  EXPECT_EQ(out, Run(request, alice_).csv);
  EXPECT_EQ(ParseCsv(out).size(), 5u);  // header + 10.0.0.0 .. 10.0.0.3

  EXPECT_EQ(ctl({"export", "alice", "2026-03-10"}, {}, bob_, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("PERMISSION_DENIED"));
  options.order_by = "size";
  EXPECT_EQ(ctl({"export", "alice", "2026-03-10"}, options, alice_, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("export: --order-by"));
}

}  // namespace
}  // namespace egress
