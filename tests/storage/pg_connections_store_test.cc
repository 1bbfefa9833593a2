// PgConnectionsStore against a real PostgreSQL: the store's own contract
// (account scoping, literal prefixes, keyset cursors), below the service.
#include "service/storage/pg_connections_store.h"

#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::FreshDatabase;
using ::egress::testing::StatusIs;
using ::testing::ElementsAre;

class PgConnectionsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    options.pool_size = 4;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    store_ = std::make_unique<PgConnectionsStore>(database_.get());
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    work.exec(R"sql(
      INSERT INTO nodes (node_id) VALUES ('n1');
      INSERT INTO accounts (account_id, node_id, uid) VALUES ('a1', 'n1', 1001), ('a2', 'n1', 1002);
      SELECT egress_ensure_partitions('2026-03-01', 2);
      INSERT INTO connection_daily
        (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
      VALUES ('a1', '2026-03-10', '10.0.0.1', 6, 443, 1, 5, now(), now()),
             ('a1', '2026-03-10', '100.0.0.1', 6, 443, 1, 4, now(), now()),
             ('a1', '2026-03-10', '10.1.0.1', 17, 53, 2, 3, now(), now()),
             ('a1', '2026-03-10', '2001:db8::1', 6, 80, 1, 2, now(), now()),
             ('a1', '2026-03-10', '2001:db9::1', 58, 0, 1, 1, now(), now()),
             ('a1', '2026-04-01', '10.0.0.1', 6, 443, 1, 7, now(), now()),
             ('a2', '2026-03-10', '10.0.0.2', 6, 443, 1, 9, now(), now());
    )sql");
    work.exec(testing::kDayTotalsFromRowsSql);
    work.commit();
  }

  ConnectionQuery Query(IpFilter filter = {}) {
    ConnectionQuery query;
    query.account_id = "a1";
    query.day = absl::CivilDay(2026, 3, 10);
    query.filter = std::move(filter);
    query.limit = 100;
    return query;
  }

  std::vector<std::string> Ips(const ConnectionQuery& query) {
    absl::StatusOr<ConnectionPage> page = store_->ListConnections(query);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ips;
    if (!page.ok()) return ips;
    for (const ConnectionRow& row : page->rows) ips.push_back(row.ip.ToString());
    return ips;
  }

  static IpFilter Prefix(const std::string& prefix) {
    IpFilter filter;
    filter.kind = IpFilter::Kind::kTextPrefix;
    filter.prefix = prefix;
    return filter;
  }

  static IpFilter Network(const std::string& cidr) {
    IpFilter filter;
    filter.kind = IpFilter::Kind::kNetwork;
    filter.network = *IpNetwork::Parse(cidr);
    return filter;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgConnectionsStore> store_;
};

TEST_F(PgConnectionsStoreTest, UnknownAccountsAreNotFound) {
  EXPECT_THAT(store_->ListDates("nobody"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(
      store_->DailyCounts("nobody", absl::CivilDay(2026, 1, 1), absl::CivilDay(2026, 12, 1)),
      StatusIs(absl::StatusCode::kNotFound));
  ConnectionQuery query = Query();
  query.account_id = "nobody";
  EXPECT_THAT(store_->ListConnections(query), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(PgConnectionsStoreTest, RowsAreScopedToTheAccountAndDay) {
  EXPECT_THAT(Ips(Query()),
              ElementsAre("10.0.0.1", "100.0.0.1", "10.1.0.1", "2001:db8::1", "2001:db9::1"));
}

TEST_F(PgConnectionsStoreTest, PrefixesMatchLiterallyNeverAsPatterns) {
  EXPECT_THAT(Ips(Query(Prefix("10."))), ElementsAre("10.0.0.1", "10.1.0.1"));
  EXPECT_THAT(Ips(Query(Prefix("10"))), ElementsAre("10.0.0.1", "100.0.0.1", "10.1.0.1"));
  // '_' and '%' would match anything as LIKE wildcards; here they are text.
  EXPECT_THAT(Ips(Query(Prefix("10_"))), ElementsAre());
  EXPECT_THAT(Ips(Query(Prefix("%"))), ElementsAre());
  EXPECT_THAT(Ips(Query(Prefix("\\"))), ElementsAre());
  EXPECT_THAT(Ips(Query(Prefix("2001:db8:"))), ElementsAre("2001:db8::1"));
}

// IPv4 prefixes are matched as address ranges, not text: on a day of many
// addresses, every prefix finds exactly the rows whose text starts with it,
// and counts them.
TEST_F(PgConnectionsStoreTest, Ipv4PrefixesFindExactlyTheAddressesWhoseTextStartsWithThem) {
  std::vector<std::string> all;
  {
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    std::string values;
    for (uint32_t third = 0; third < 256; third += 3) {
      for (uint32_t fourth : {0u, 1u, 9u, 10u, 19u, 25u, 99u, 100u, 199u, 200u, 255u}) {
        const std::string ip = absl::StrCat("10.0.", third, ".", fourth);
        all.push_back(ip);
        absl::StrAppend(&values, values.empty() ? "" : ",", "('a1', '2026-03-11', '", ip,
                        "', 6, 443, 1, 1, now(), now())");
      }
    }
    work.exec(
        absl::StrCat("INSERT INTO connection_daily (account_id, day, ip, protocol, port, "
                     "action, count, first_seen, last_seen) VALUES ",
                     values));
    work.exec("DELETE FROM account_day_totals");
    work.exec(testing::kDayTotalsFromRowsSql);
    work.commit();
  }
  for (const std::string prefix : {"10.0.1", "10.0.1.", "10.0.25", "10.0.2", "10.0.0", "10.0.",
                                   "10.0.19.1", "10.0.255.2", "1", "10.1", "300.", "10.00"}) {
    ConnectionQuery query = Query(Prefix(prefix));
    query.day = absl::CivilDay(2026, 3, 11);
    query.limit = 5000;
    query.order = ConnectionOrder::kIp;
    absl::StatusOr<ConnectionPage> page = store_->ListConnections(query);
    ASSERT_TRUE(page.ok()) << page.status();
    std::set<std::string> expected, found;
    for (const std::string& ip : all) {
      if (absl::StartsWith(ip, prefix)) expected.insert(ip);
    }
    for (const ConnectionRow& row : page->rows) found.insert(row.ip.ToString());
    EXPECT_EQ(found, expected) << prefix;
    EXPECT_EQ(page->total_rows, expected.size()) << prefix;
  }
}

TEST_F(PgConnectionsStoreTest, NetworksSelectTheirFamilyAndRangeOnly) {
  EXPECT_THAT(Ips(Query(Network("0.0.0.0/0"))), ElementsAre("10.0.0.1", "100.0.0.1", "10.1.0.1"));
  EXPECT_THAT(Ips(Query(Network("10.0.0.0/15"))), ElementsAre("10.0.0.1", "10.1.0.1"));
  EXPECT_THAT(Ips(Query(Network("::/0"))), ElementsAre("2001:db8::1", "2001:db9::1"));
  EXPECT_THAT(Ips(Query(Network("2001:db8::1/128"))), ElementsAre("2001:db8::1"));
  ConnectionQuery rejected = Query(Network("10.0.0.0/8"));
  rejected.action = RecordAction::kReject;
  EXPECT_THAT(Ips(rejected), ElementsAre("10.1.0.1"));
}

TEST_F(PgConnectionsStoreTest, CursorsContinueAfterTheLastRow) {
  for (ConnectionOrder order : {ConnectionOrder::kCount, ConnectionOrder::kIp,
                                ConnectionOrder::kPort, ConnectionOrder::kLastSeen}) {
    for (bool descending : {false, true}) {
      ConnectionQuery query = Query();
      query.order = order;
      query.descending = descending;
      const std::vector<std::string> all = Ips(query);
      ASSERT_EQ(all.size(), 5u);
      std::vector<std::string> paged;
      query.limit = 2;
      while (true) {
        ASSERT_OK_AND_ASSIGN(ConnectionPage page, store_->ListConnections(query));
        EXPECT_EQ(page.total_rows, 5u);
        for (const ConnectionRow& row : page.rows) paged.push_back(row.ip.ToString());
        if (page.rows.size() < 2) break;
        query.after = page.rows.back().cursor;
      }
      EXPECT_EQ(paged, all) << static_cast<int>(order) << descending;
    }
  }
}

TEST_F(PgConnectionsStoreTest, ALaterPageWithAKnownTotalReturnsItWithoutCounting) {
  ConnectionQuery query = Query();
  query.limit = 2;
  ASSERT_OK_AND_ASSIGN(ConnectionPage first, store_->ListConnections(query));
  EXPECT_EQ(first.total_rows, 5u);  // counted in the first page's scan
  query.after = first.rows.back().cursor;
  query.known_total = 41;  // what the first page's token carried
  ASSERT_OK_AND_ASSIGN(ConnectionPage second, store_->ListConnections(query));
  EXPECT_EQ(second.total_rows, 41u);
  EXPECT_EQ(second.rows.size(), 2u);
  // An empty first page: nothing matches.
  ConnectionQuery none = Query();
  none.day = absl::CivilDay(2026, 3, 11);
  ASSERT_OK_AND_ASSIGN(ConnectionPage empty, store_->ListConnections(none));
  EXPECT_EQ(empty.total_rows, 0u);
  EXPECT_TRUE(empty.rows.empty());
}

TEST_F(PgConnectionsStoreTest, ConcurrentReadersShareThePool) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (store_->ListConnections(Query()).ok() && store_->ListDates("a1").ok()) ++ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 160);
}

}  // namespace
}  // namespace egress
