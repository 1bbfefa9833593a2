// ListDates, DailyCounts and ListConnections over real gRPC against a real
// PostgreSQL seeded the way ingest would have written it.
#include <algorithm>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/connections_test_env.h"
#include "tests/support/postgres_cluster.h"

namespace egress {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
namespace v1 = ::egress::v1;
using Stub = v1::ConnectionsService::Stub;

constexpr int kRows = 5000;

// One row of connection_daily as the test expects to see it.
struct Row {
  IpAddress ip;
  int protocol;
  int port;
  int action;
  int64_t count;
  int64_t last_seen_us;
  std::string Key() const {
    return absl::StrCat(ip.ToString(), "/", protocol, "/", port, "/", action);
  }
};

int ProtoProtocol(v1::Protocol protocol) {
  switch (protocol) {
    case v1::PROTOCOL_TCP:
      return 6;
    case v1::PROTOCOL_UDP:
      return 17;
    case v1::PROTOCOL_ICMP:
      return 1;
    case v1::PROTOCOL_ICMPV6:
      return 58;
    default:
      return -1;
  }
}

std::string Key(const v1::Connection& c) {
  return absl::StrCat(c.ip(), "/", ProtoProtocol(c.protocol()), "/", c.port(), "/",
                      c.action() == v1::ACTION_ACCEPT ? 1 : 2);
}

v1::Date MakeDate(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

class ConnectionsListTest : public testing::PanelTest {
 protected:
  void SetUp() override {
    testing::PanelTest::SetUp();
    if (HasFatalFailure()) return;
    // 5,000 rows for alice on 2026-03-10: 4,500 IPv4 and 500 IPv6
    // destinations, TCP/UDP/ICMP, both actions, many ties in count and last
    // seen (so the tie-breaks are exercised).
    Sql(absl::StrCat(testing::SyntheticDaySql(kRows, "2026-03-10T01:00:00.123456Z"),
                     testing::kDayTotalsFromRowsSql, R"sql(
      INSERT INTO account_day_totals (account_id, day, accepted, rejected)
      VALUES ('alice', '2026-03-08', 3, 0), ('alice', '2026-02-27', 0, 2),
             ('alice', '2026-03-09', 0, 0), ('bob', '2026-03-11', 5, 5);
      INSERT INTO node_day_losses (node_id, day, reason, events)
      VALUES ('web-01', '2026-03-08', 1, 12), ('web-02', '2026-03-10', 1, 7);
      INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network,
                           looked_up_at)
      VALUES ('10.0.0.1', 2, 'one.example.net', true, 64500, 'Example Networks', 'NL',
              '10.0.0.0/24', '2026-03-10T05:00:00Z'),
             ('10.0.0.3', 3, '', false, 0, '', '', NULL, '2026-03-10T05:00:00Z');
    )sql"));
    for (const pqxx::row& r : Sql(R"sql(
        SELECT host(ip), protocol, port, action, count,
               (extract(epoch FROM last_seen) * 1000000)::int8
          FROM connection_daily WHERE account_id = 'alice' AND day = '2026-03-10')sql")) {
      rows_.push_back(Row{*IpAddress::Parse(r[0].c_str()), r[1].as<int>(), r[2].as<int>(),
                          r[3].as<int>(), r[4].as<int64_t>(), r[5].as<int64_t>()});
    }
    ASSERT_EQ(rows_.size(), static_cast<size_t>(kRows));
  }

  v1::ListConnectionsRequest Request(const std::string& filter = "") {
    v1::ListConnectionsRequest request;
    request.set_account_id("alice");
    *request.mutable_date() = MakeDate(2026, 3, 10);
    request.set_ip_filter(filter);
    return request;
  }

  grpc::Status List(const v1::ListConnectionsRequest& request, v1::ListConnectionsResponse* out,
                    const std::string& token = "") {
    return Call(connections_.get(), &Stub::ListConnections, token.empty() ? alice_ : token, request,
                out);
  }

  // Every page of `request`, checking total_rows on each.
  std::vector<v1::Connection> ListAll(v1::ListConnectionsRequest request, size_t expected_total) {
    std::vector<v1::Connection> all;
    for (int pages = 0; pages < 1000; ++pages) {
      v1::ListConnectionsResponse response;
      grpc::Status status = List(request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      EXPECT_EQ(response.total_rows(), expected_total);
      all.insert(all.end(), response.connections().begin(), response.connections().end());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return all;
  }

  std::vector<Row> rows_;
};

TEST_F(ConnectionsListTest, ListDatesNewestFirstOnlyDaysWithRecordsAndLosses) {
  v1::ListDatesRequest request;
  request.set_account_id("alice");
  v1::ListDatesResponse response;
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListDates, alice_, request, &response).ok());
  ASSERT_EQ(response.dates_size(), 3);
  EXPECT_EQ(response.dates(0).date().day(), 10);
  EXPECT_FALSE(response.dates(0).incomplete());  // web-02's loss is not alice's node
  EXPECT_EQ(response.dates(1).date().day(), 8);
  EXPECT_EQ(response.dates(1).accepted(), 3u);
  EXPECT_TRUE(response.dates(1).incomplete());
  EXPECT_EQ(response.dates(2).date().month(), 2);
  EXPECT_EQ(response.dates(2).rejected(), 2u);
  uint64_t accepted = 0, rejected = 0;
  for (const Row& row : rows_) (row.action == 1 ? accepted : rejected) += row.count;
  EXPECT_EQ(response.dates(0).accepted(), accepted);
  EXPECT_EQ(response.dates(0).rejected(), rejected);
}

TEST_F(ConnectionsListTest, DailyCountsOldestFirstWithinTheRange) {
  v1::DailyCountsRequest request;
  request.set_account_id("alice");
  v1::DailyCountsResponse all;
  ASSERT_TRUE(Call(connections_.get(), &Stub::DailyCounts, alice_, request, &all).ok());
  ASSERT_EQ(all.days_size(), 3);
  EXPECT_EQ(all.days(0).date().day(), 27);
  EXPECT_EQ(all.days(1).date().day(), 8);
  EXPECT_EQ(all.days(2).date().day(), 10);

  *request.mutable_from() = MakeDate(2026, 3, 1);
  *request.mutable_to() = MakeDate(2026, 3, 9);
  v1::DailyCountsResponse march;
  ASSERT_TRUE(Call(connections_.get(), &Stub::DailyCounts, alice_, request, &march).ok());
  ASSERT_EQ(march.days_size(), 1);
  EXPECT_EQ(march.days(0).date().day(), 8);
  EXPECT_TRUE(march.days(0).incomplete());

  const std::string before = Dump();
  *request.mutable_from() = MakeDate(2026, 3, 10);
  v1::DailyCountsResponse ignored;
  grpc::Status reversed = Call(connections_.get(), &Stub::DailyCounts, alice_, request, &ignored);
  EXPECT_EQ(reversed.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(reversed.error_message(), StartsWith("to:"));
  *request.mutable_from() = MakeDate(2026, 2, 30);
  grpc::Status unreal = Call(connections_.get(), &Stub::DailyCounts, alice_, request, &ignored);
  EXPECT_EQ(unreal.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(unreal.error_message(), StartsWith("from:"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(ConnectionsListTest, PagesThroughAFiveThousandRowDayInEveryOrder) {
  using Order = v1::ListConnectionsRequest;
  struct Case {
    Order::OrderBy order;
    bool reverse;
    int page_size;
  };
  const std::vector<Case> cases = {
      {Order::ORDER_BY_UNSPECIFIED, false, 0},  {Order::ORDER_BY_COUNT, true, 1000},
      {Order::ORDER_BY_IP, false, 999},         {Order::ORDER_BY_IP, true, 1000},
      {Order::ORDER_BY_PORT, false, 777},       {Order::ORDER_BY_PORT, true, 1000},
      {Order::ORDER_BY_LAST_SEEN, false, 1000}, {Order::ORDER_BY_LAST_SEEN, true, 613},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("order ", c.order, " reverse ", c.reverse));
    std::vector<Row> expected = rows_;
    auto tie = [](const Row& r) { return std::make_tuple(r.ip, r.protocol, r.port, r.action); };
    std::sort(expected.begin(), expected.end(), [&](const Row& a, const Row& b) {
      switch (c.order) {
        case Order::ORDER_BY_IP:
          return c.reverse ? tie(b) < tie(a) : tie(a) < tie(b);
        case Order::ORDER_BY_PORT:
          if (a.port != b.port) return c.reverse ? a.port > b.port : a.port < b.port;
          return tie(a) < tie(b);
        case Order::ORDER_BY_LAST_SEEN:
          if (a.last_seen_us != b.last_seen_us) {
            return c.reverse ? a.last_seen_us < b.last_seen_us : a.last_seen_us > b.last_seen_us;
          }
          return tie(a) < tie(b);
        default:
          if (a.count != b.count) return c.reverse ? a.count < b.count : a.count > b.count;
          return tie(a) < tie(b);
      }
    });
    v1::ListConnectionsRequest request = Request();
    request.set_order_by(c.order);
    request.set_reverse(c.reverse);
    request.set_page_size(c.page_size);
    std::vector<v1::Connection> got = ListAll(request, kRows);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(Key(got[i]), expected[i].Key()) << "position " << i;
      ASSERT_EQ(static_cast<int64_t>(got[i].count()), expected[i].count) << "position " << i;
    }
  }
}

TEST_F(ConnectionsListTest, LaterPagesRepeatTheTotalCountedWithTheFirstPage) {
  v1::ListConnectionsResponse first;
  ASSERT_TRUE(List(Request(), &first).ok());
  ASSERT_EQ(first.total_rows(), static_cast<uint64_t>(kRows));
  ASSERT_FALSE(first.next_page_token().empty());
  // A row arrives while the customer pages through the day.
  Sql(R"sql(
    INSERT INTO connection_daily (account_id, day, ip, protocol, port, action, count, first_seen,
                                  last_seen)
    VALUES ('alice', '2026-03-10', '203.0.113.250', 6, 8443, 1, 1, now(), now());
    UPDATE account_day_totals SET accepted = accepted + 1, accepted_rows = accepted_rows + 1
     WHERE account_id = 'alice' AND day = '2026-03-10')sql");
  v1::ListConnectionsRequest next = Request();
  next.set_page_token(first.next_page_token());
  v1::ListConnectionsResponse second;
  ASSERT_TRUE(List(next, &second).ok());
  EXPECT_EQ(second.total_rows(), static_cast<uint64_t>(kRows));
  EXPECT_GT(second.connections_size(), 0);
  // A new first page counts again.
  v1::ListConnectionsResponse again;
  ASSERT_TRUE(List(Request(), &again).ok());
  EXPECT_EQ(again.total_rows(), static_cast<uint64_t>(kRows + 1));
  // A filter that matches nothing: total 0 on the first page.
  v1::ListConnectionsResponse none;
  ASSERT_TRUE(List(Request("198.51.100.0/24"), &none).ok());
  EXPECT_EQ(none.total_rows(), 0u);
}

TEST_F(ConnectionsListTest, FirstPageDefaultsToOneHundredByCountDescending) {
  v1::ListConnectionsResponse response;
  ASSERT_TRUE(List(Request(), &response).ok());
  EXPECT_EQ(response.connections_size(), 100);
  EXPECT_EQ(response.total_rows(), static_cast<uint64_t>(kRows));
  EXPECT_FALSE(response.next_page_token().empty());
  EXPECT_FALSE(response.incomplete());
  for (int i = 1; i < response.connections_size(); ++i) {
    EXPECT_GE(response.connections(i - 1).count(), response.connections(i).count());
  }
  const v1::Connection& top = response.connections(0);
  EXPECT_GT(top.first_seen().seconds(), 0);
  EXPECT_GT(top.last_seen().seconds(), 0);
  EXPECT_EQ(top.last_seen().nanos() % 1000, 0);
}

// No date: the newest day with records, named in the response, so the
// panel's first page needs no ListDates before it.
TEST_F(ConnectionsListTest, NoDateListsTheNewestDayAndNamesIt) {
  v1::ListConnectionsRequest request = Request();
  request.clear_date();
  v1::ListConnectionsResponse response;
  ASSERT_TRUE(List(request, &response).ok());
  EXPECT_EQ(response.date().year(), 2026);
  EXPECT_EQ(response.date().month(), 3);
  EXPECT_EQ(response.date().day(), 10);
  EXPECT_EQ(response.total_rows(), static_cast<uint64_t>(kRows));
  v1::ListConnectionsResponse dated;
  ASSERT_TRUE(List(Request(), &dated).ok());
  ASSERT_EQ(response.connections_size(), dated.connections_size());
  for (int i = 0; i < dated.connections_size(); ++i) {
    EXPECT_EQ(Key(response.connections(i)), Key(dated.connections(i)));
  }
  EXPECT_EQ(dated.date().day(), 10);  // a dated request names its day too
  // Its page token continues that day (the next request carries the date).
  v1::ListConnectionsRequest next = Request();
  next.set_page_token(response.next_page_token());
  v1::ListConnectionsResponse page2;
  ASSERT_TRUE(List(next, &page2).ok());
  EXPECT_EQ(page2.connections_size(), 100);
  // A page token without its date is refused, naming the field.
  v1::ListConnectionsRequest undated = request;
  undated.set_page_token(response.next_page_token());
  v1::ListConnectionsResponse refused;
  grpc::Status no_date = List(undated, &refused);
  EXPECT_EQ(no_date.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(no_date.error_message(), StartsWith("page_token:"));
  // bob's newest day has totals but no rows here: that day, empty.
  request.set_account_id("bob");
  v1::ListConnectionsResponse bobs;
  ASSERT_TRUE(List(request, &bobs, admin_).ok());
  EXPECT_EQ(bobs.date().day(), 11);
  EXPECT_EQ(bobs.connections_size(), 0);
  // An account with no records at all: no day, no rows.
  Sql("DELETE FROM account_day_totals WHERE account_id = 'bob'");
  v1::ListConnectionsResponse none;
  ASSERT_TRUE(List(request, &none, admin_).ok());
  EXPECT_FALSE(none.has_date());
  EXPECT_EQ(none.connections_size(), 0);
  EXPECT_EQ(none.total_rows(), 0u);
  // Other fields are still checked.
  request.set_ip_filter("10._");
  grpc::Status bad = List(request, &none, admin_);
  EXPECT_EQ(bad.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), StartsWith("ip_filter:"));
}

TEST_F(ConnectionsListTest, ExactCidrAndPrefixFilters) {
  auto expect_filter = [&](const std::string& filter, auto predicate, v1::Action action) {
    SCOPED_TRACE(filter);
    std::vector<std::string> expected;
    for (const Row& row : rows_) {
      if (predicate(row) && (action == v1::ACTION_UNSPECIFIED ||
                             row.action == (action == v1::ACTION_ACCEPT ? 1 : 2))) {
        expected.push_back(row.Key());
      }
    }
    v1::ListConnectionsRequest request = Request(filter);
    request.set_action(action);
    request.set_page_size(100);
    std::vector<std::string> got;
    for (const v1::Connection& c : ListAll(request, expected.size())) got.push_back(Key(c));
    std::sort(expected.begin(), expected.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected);
    EXPECT_FALSE(expected.empty());
  };
  const IpNetwork net24 = *IpNetwork::Parse("10.0.1.0/24");
  const IpNetwork v6 = *IpNetwork::Parse("2001:db8::/32");
  expect_filter(
      "10.0.1.5", [](const Row& r) { return r.ip.ToString() == "10.0.1.5"; },
      v1::ACTION_UNSPECIFIED);
  expect_filter(
      "10.0.1.0/24", [&](const Row& r) { return net24.Contains(r.ip); }, v1::ACTION_UNSPECIFIED);
  expect_filter(
      "10.0.1.0/24", [&](const Row& r) { return net24.Contains(r.ip); }, v1::ACTION_REJECT);
  expect_filter(
      "2001:db8::/32", [&](const Row& r) { return v6.Contains(r.ip); }, v1::ACTION_ACCEPT);
  expect_filter(
      "10.0.1", [](const Row& r) { return absl::StartsWith(r.ip.ToString(), "10.0.1"); },
      v1::ACTION_UNSPECIFIED);
  expect_filter(
      "2001:DB8:1", [](const Row& r) { return absl::StartsWith(r.ip.ToString(), "2001:db8:1"); },
      v1::ACTION_UNSPECIFIED);
  expect_filter(
      "", [](const Row& r) { return r.action == 2; }, v1::ACTION_REJECT);

  // Nothing matches: an empty page, not an error.
  v1::ListConnectionsResponse none;
  ASSERT_TRUE(List(Request("192.0.2.0/24"), &none).ok());
  EXPECT_EQ(none.connections_size(), 0);
  EXPECT_EQ(none.total_rows(), 0u);
  EXPECT_EQ(none.next_page_token(), "");
}

TEST_F(ConnectionsListTest, RowsCarryIpInfoAndTheRulesThatCoverThem) {
  // Rules through the API: the address rule of 10.0.0.1, TCP to 10.0.1.0/24,
  // and "any" on one port of 10.0.0.0/16 (TCP and UDP on that port).
  auto block = [&](const std::string& destination, v1::Protocol protocol, uint32_t port) {
    v1::BlockDestinationRequest request;
    request.set_account_id("alice");
    request.set_destination(destination);
    request.set_protocol(protocol);
    request.set_port(port);
    v1::BlockRule rule;
    grpc::Status status = Call(connections_.get(), &Stub::BlockDestination, alice_, request, &rule);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return rule.rule_id();
  };
  const uint64_t address_rule = block("10.0.0.1", v1::PROTOCOL_UNSPECIFIED, 0);
  const uint64_t tcp_rule = block("10.0.1.0/24", v1::PROTOCOL_TCP, 0);
  const Row* udp_row = nullptr;
  for (const Row& row : rows_) {
    if (row.protocol == 17 && row.ip.is_v4()) udp_row = &row;
  }
  ASSERT_NE(udp_row, nullptr);
  const uint64_t port_rule = block("10.0.0.0/16", v1::PROTOCOL_ANY, udp_row->port);
  // Bob's rule on the same address never shows on alice's rows.
  v1::BlockDestinationRequest bobs;
  bobs.set_account_id("bob");
  bobs.set_destination("10.0.0.0/8");
  v1::BlockRule ignored;
  ASSERT_TRUE(Call(connections_.get(), &Stub::BlockDestination, bob_, bobs, &ignored).ok());

  const IpNetwork net24 = *IpNetwork::Parse("10.0.1.0/24");
  v1::ListConnectionsRequest request = Request("10.0.0.0/16");
  request.set_page_size(1000);
  size_t checked = 0;
  for (const v1::Connection& c : ListAll(request, 4500)) {
    const IpAddress ip = *IpAddress::Parse(c.ip());
    std::vector<uint64_t> expected;
    if (c.ip() == "10.0.0.1") expected.push_back(address_rule);
    if (net24.Contains(ip) && c.protocol() == v1::PROTOCOL_TCP) expected.push_back(tcp_rule);
    if ((c.protocol() == v1::PROTOCOL_TCP || c.protocol() == v1::PROTOCOL_UDP) &&
        c.port() == static_cast<uint32_t>(udp_row->port)) {
      expected.push_back(port_rule);
    }
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(std::vector<uint64_t>(c.blocking_rule_ids().begin(), c.blocking_rule_ids().end()),
              expected)
        << Key(c);
    EXPECT_EQ(c.address_rule_id(), c.ip() == "10.0.0.1" ? address_rule : 0u) << Key(c);
    if (c.ip() == "10.0.0.1") {
      EXPECT_EQ(c.ip_info().status(), v1::IpInfo::IP_INFO_STATUS_OK);
      EXPECT_EQ(c.ip_info().ptr(), "one.example.net");
      EXPECT_TRUE(c.ip_info().ptr_confirmed());
      EXPECT_EQ(c.ip_info().asn(), 64500u);
      EXPECT_EQ(c.ip_info().as_name(), "Example Networks");
      EXPECT_EQ(c.ip_info().country(), "NL");
      EXPECT_EQ(c.ip_info().network(), "10.0.0.0/24");
      EXPECT_GT(c.ip_info().looked_up_at().seconds(), 0);
    } else if (c.ip() == "10.0.0.3") {
      EXPECT_EQ(c.ip_info().status(), v1::IpInfo::IP_INFO_STATUS_NO_PTR);
    } else {
      EXPECT_EQ(c.ip_info().status(), v1::IpInfo::IP_INFO_STATUS_PENDING);
      EXPECT_EQ(c.ip_info().ptr(), "");
    }
    ++checked;
  }
  EXPECT_EQ(checked, 4500u);
}

TEST_F(ConnectionsListTest, IncompleteDaysAreMarked) {
  Sql("INSERT INTO node_day_losses (node_id, day, reason, events) "
      "VALUES ('web-01', '2026-03-10', 2, 1)");
  v1::ListConnectionsResponse response;
  ASSERT_TRUE(List(Request(), &response).ok());
  EXPECT_TRUE(response.incomplete());
}

TEST_F(ConnectionsListTest, PageTokensAreBoundToTheirFilters) {
  v1::ListConnectionsRequest request = Request("10.0.0.0/16");
  request.set_page_size(10);
  v1::ListConnectionsResponse first;
  ASSERT_TRUE(List(request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  const std::string before = Dump();

  std::vector<std::function<void(v1::ListConnectionsRequest*)>> changes = {
      [](auto* r) { r->set_ip_filter("10.0.0.0/17"); },
      [](auto* r) { r->set_ip_filter(""); },
      [](auto* r) { r->set_action(v1::ACTION_ACCEPT); },
      [](auto* r) { r->set_order_by(v1::ListConnectionsRequest::ORDER_BY_IP); },
      [](auto* r) { r->set_reverse(true); },
      [](auto* r) { *r->mutable_date() = MakeDate(2026, 3, 8); },
      [](auto* r) {
        std::string token = r->page_token();
        token[12] = token[12] == 'A' ? 'B' : 'A';
        r->set_page_token(token);
      },
      [](auto* r) { r->set_page_token("Y29ubmVjdGlvbnMKJyBPUiAxPTE7LS0="); },
      [](auto* r) { r->set_page_token(std::string(5000, 'A')); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    v1::ListConnectionsRequest next = request;
    next.set_page_token(first.next_page_token());
    changes[i](&next);
    v1::ListConnectionsResponse response;
    grpc::Status status = List(next, &response);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << i;
    EXPECT_THAT(status.error_message(), StartsWith("page_token:")) << i;
  }
  // The same filters with a different page size are fine.
  v1::ListConnectionsRequest next = request;
  next.set_page_token(first.next_page_token());
  next.set_page_size(20);
  v1::ListConnectionsResponse second;
  ASSERT_TRUE(List(next, &second).ok());
  EXPECT_NE(Key(second.connections(0)), Key(first.connections(9)));
  EXPECT_EQ(Dump(), before);
}

TEST_F(ConnectionsListTest, BadInputIsInvalidArgumentNamingTheField) {
  const std::string before = Dump();
  struct Case {
    std::function<void(v1::ListConnectionsRequest*)> change;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto* r) { r->set_account_id(""); }, "account_id:"},
      {[](auto* r) { r->set_account_id("alice'; DROP TABLE accounts;--"); }, "account_id:"},
      {[](auto* r) { *r->mutable_date() = MakeDate(2026, 2, 29); }, "date:"},
      {[](auto* r) { *r->mutable_date() = MakeDate(1969, 12, 31); }, "date:"},
      {[](auto* r) { *r->mutable_date() = MakeDate(2026, 13, 1); }, "date:"},
      {[](auto* r) { *r->mutable_date() = MakeDate(9999, 1, 1); }, "date:"},
      {[](auto* r) { r->set_ip_filter("10.0.1.0/24' OR 1=1 --"); }, "ip_filter:"},
      {[](auto* r) { r->set_ip_filter("10.0.1.1/24"); }, "ip_filter:"},
      {[](auto* r) { r->set_ip_filter("%"); }, "ip_filter:"},
      {[](auto* r) { r->set_ip_filter("10._"); }, "ip_filter:"},
      {[](auto* r) { r->set_ip_filter("10.0.0.1\\"); }, "ip_filter:"},
      {[](auto* r) { r->set_ip_filter(std::string(65, '1')); }, "ip_filter:"},
      {[](auto* r) { r->set_ip_filter(std::string("10.0\0.1", 7)); }, "ip_filter:"},
      {[](auto* r) { r->set_action(static_cast<v1::Action>(7)); }, "action:"},
      {[](auto* r) { r->set_order_by(static_cast<v1::ListConnectionsRequest::OrderBy>(9)); },
       "order_by:"},
      {[](auto* r) { r->set_page_size(1001); }, "page_size:"},
      {[](auto* r) { r->set_page_size(-1); }, "page_size:"},
      {[](auto* r) { r->set_page_token("not a token"); }, "page_token:"},
  };
  for (const Case& c : cases) {
    v1::ListConnectionsRequest request = Request();
    c.change(&request);
    v1::ListConnectionsResponse response;
    grpc::Status status = List(request, &response, admin_);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << c.field << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field));
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(ConnectionsListTest, TokensDecideWhoSeesWhat) {
  v1::ListConnectionsResponse response;
  EXPECT_EQ(List(Request(), &response, "garbage").error_code(), grpc::UNAUTHENTICATED);
  grpc::ClientContext context;
  EXPECT_EQ(connections_->ListConnections(&context, Request(), &response).error_code(),
            grpc::UNAUTHENTICATED);
  EXPECT_EQ(List(Request(), &response, bob_).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(List(Request(), &response, av_).error_code(), grpc::PERMISSION_DENIED);
  // A panel token for an account that does not exist cannot probe others.
  v1::ListConnectionsRequest ghost = Request();
  ghost.set_account_id("ghost");
  EXPECT_EQ(List(ghost, &response, bob_).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(List(ghost, &response, admin_).error_code(), grpc::NOT_FOUND);
  ASSERT_TRUE(List(Request(), &response, admin_).ok());
  EXPECT_EQ(response.total_rows(), static_cast<uint64_t>(kRows));

  // Bob sees only his one row on the same day.
  v1::ListConnectionsRequest bobs = Request();
  bobs.set_account_id("bob");
  ASSERT_TRUE(List(bobs, &response, bob_).ok());
  ASSERT_EQ(response.connections_size(), 1);
  EXPECT_EQ(response.connections(0).count(), 99u);

  v1::ListDatesRequest dates;
  dates.set_account_id("alice");
  v1::ListDatesResponse dates_response;
  EXPECT_EQ(Call(connections_.get(), &Stub::ListDates, bob_, dates, &dates_response).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(Call(connections_.get(), &Stub::ListDates, std::string(), dates, &dates_response)
                .error_code(),
            grpc::UNAUTHENTICATED);
  dates.set_account_id("ghost");
  EXPECT_EQ(Call(connections_.get(), &Stub::ListDates, admin_, dates, &dates_response).error_code(),
            grpc::NOT_FOUND);
}

}  // namespace
}  // namespace egress
