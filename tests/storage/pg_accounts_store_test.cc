// PgAccountsStore against a real PostgreSQL.
#include "service/storage/pg_accounts_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/storage/pg_rules_store.h"
#include "tests/support/notification_listener.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::DumpAllTables;
using ::egress::testing::FreshDatabase;
using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
IpNetwork Net(const char* text) { return *IpNetwork::Parse(text); }

class PgAccountsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    options.pool_size = 4;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    store_ = std::make_unique<PgAccountsStore>(database_.get());
  }

  NodeSpec Node(const std::string& id) {
    NodeSpec spec;
    spec.node_id = id;
    spec.server_ipv4 = Ip("198.51.100.10");
    spec.server_ipv6 = Ip("2001:db8::10");
    spec.exempt_networks = {Net("10.0.0.0/8"), Net("fd00::/8")};
    return spec;
  }

  AccountSpec Account(const std::string& id, const std::string& node, uint32_t uid) {
    AccountSpec spec;
    spec.account_id = id;
    spec.node_id = node;
    spec.uid = uid;
    return spec;
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    return work.exec(sql)[0][0].as<int64_t>();
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgAccountsStore> store_;
  const Actor admin_{"admin:test", ActorRole::kSupport};
};

TEST_F(PgAccountsStoreTest, NodeRoundTrip) {
  ASSERT_OK_AND_ASSIGN(NodeRecord created, store_->UpsertNode(Node("web-01"), admin_));
  EXPECT_EQ(created.spec.node_id, "web-01");
  EXPECT_EQ(created.spec.server_ipv4, Ip("198.51.100.10"));
  EXPECT_EQ(created.spec.server_ipv6, Ip("2001:db8::10"));
  EXPECT_THAT(created.spec.exempt_networks, ElementsAre(Net("10.0.0.0/8"), Net("fd00::/8")));
  EXPECT_EQ(created.rule_version, 1u);
  EXPECT_EQ(created.account_count, 0u);

  ASSERT_OK_AND_ASSIGN(NodeRecord read, store_->GetNode("web-01"));
  EXPECT_EQ(read.spec.exempt_networks, created.spec.exempt_networks);
  EXPECT_EQ(read.created_at, created.created_at);
}

TEST_F(PgAccountsStoreTest, NodeWithoutAddresses) {
  NodeSpec spec = Node("bare");
  spec.server_ipv4.reset();
  spec.server_ipv6.reset();
  spec.exempt_networks.clear();
  ASSERT_OK_AND_ASSIGN(NodeRecord node, store_->UpsertNode(spec, admin_));
  EXPECT_FALSE(node.spec.server_ipv4.has_value());
  EXPECT_FALSE(node.spec.server_ipv6.has_value());
  EXPECT_TRUE(node.spec.exempt_networks.empty());
}

TEST_F(PgAccountsStoreTest, ChangingANodeBumpsItsRuleVersionOnlyWhenSomethingChanged) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_OK_AND_ASSIGN(NodeRecord same, store_->UpsertNode(Node("web-01"), admin_));
  EXPECT_EQ(same.rule_version, 1u);
  NodeSpec changed = Node("web-01");
  changed.exempt_networks.push_back(Net("192.0.2.0/24"));
  ASSERT_OK_AND_ASSIGN(NodeRecord bumped, store_->UpsertNode(changed, admin_));
  EXPECT_EQ(bumped.rule_version, 2u);
}

TEST_F(PgAccountsStoreTest, RuleChangesAreAnnouncedWithNotify) {
  testing::NotificationListener listener(conninfo_, kRulesChangedChannel);
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-01", 1001), admin_), IsOk());
  const std::vector<std::string> payloads = listener.WaitFor(2);
  EXPECT_THAT(payloads, ElementsAre("web-01", "web-01"));
}

TEST_F(PgAccountsStoreTest, AccountRoundTripWithDedicatedIpsInOrderOfOrdering) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  AccountSpec spec = Account("alice", "web-01", 1001);
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  spec.dedicated_ips = {{Ip("203.0.113.9"), t0 + absl::Hours(2)},
                        {Ip("203.0.113.5"), t0},
                        {Ip("2001:db8::5"), t0 + absl::Hours(1)}};
  ASSERT_OK_AND_ASSIGN(AccountRecord created, store_->UpsertAccount(spec, admin_));
  ASSERT_EQ(created.spec.dedicated_ips.size(), 3u);
  EXPECT_EQ(created.spec.dedicated_ips[0].ip, Ip("203.0.113.5"));
  EXPECT_EQ(created.spec.dedicated_ips[0].ordered_at, t0);
  EXPECT_EQ(created.spec.dedicated_ips[1].ip, Ip("2001:db8::5"));
  EXPECT_EQ(created.spec.dedicated_ips[2].ip, Ip("203.0.113.9"));
  ASSERT_OK_AND_ASSIGN(NodeRecord node, store_->GetNode("web-01"));
  EXPECT_EQ(node.account_count, 1u);
  // The node's version sums its own (1) and its accounts' (alice: 2).
  EXPECT_EQ(node.rule_version, 3u);
  EXPECT_EQ(Scalar("SELECT rule_version FROM accounts WHERE account_id = 'alice'"), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_log WHERE action = 'account.upsert'"), 1);

  // The same upsert again changes nothing: no version bump, no audit row.
  ASSERT_THAT(store_->UpsertAccount(spec, admin_), IsOk());
  ASSERT_OK_AND_ASSIGN(node, store_->GetNode("web-01"));
  EXPECT_EQ(node.rule_version, 3u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_log"), 1);
}

TEST_F(PgAccountsStoreTest, AccountOnUnknownNodeIsNotFoundAndWritesNothing) {
  const std::string before = DumpAllTables(conninfo_);
  EXPECT_THAT(store_->UpsertAccount(Account("alice", "nowhere", 1001), admin_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("account.node_id")));
  EXPECT_EQ(DumpAllTables(conninfo_), before);
}

TEST_F(PgAccountsStoreTest, UidTakenOnTheNodeIsAlreadyExists) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertNode(Node("web-02"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-01", 1001), admin_), IsOk());
  const std::string before = DumpAllTables(conninfo_);
  EXPECT_THAT(store_->UpsertAccount(Account("bob", "web-01", 1001), admin_),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       ::testing::AllOf(HasSubstr("account.uid"), HasSubstr("alice"))));
  EXPECT_EQ(DumpAllTables(conninfo_), before);
  // The same uid on another node is another user.
  EXPECT_THAT(store_->UpsertAccount(Account("bob", "web-02", 1001), admin_), IsOk());
}

TEST_F(PgAccountsStoreTest, DedicatedIpOfAnotherAccountIsAlreadyExists) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  AccountSpec alice = Account("alice", "web-01", 1001);
  alice.dedicated_ips = {{Ip("203.0.113.5"), absl::FromUnixSeconds(1700000000)}};
  ASSERT_THAT(store_->UpsertAccount(alice, admin_), IsOk());
  AccountSpec bob = Account("bob", "web-01", 1002);
  bob.dedicated_ips = {{Ip("203.0.113.5"), absl::FromUnixSeconds(1700000000)}};
  const std::string before = DumpAllTables(conninfo_);
  EXPECT_THAT(store_->UpsertAccount(bob, admin_),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("203.0.113.5")));
  EXPECT_EQ(DumpAllTables(conninfo_), before);
}

TEST_F(PgAccountsStoreTest, MovingAnAccountBumpsBothNodes) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertNode(Node("web-02"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-01", 1001), admin_), IsOk());
  ASSERT_OK_AND_ASSIGN(NodeRecord first_before, store_->GetNode("web-01"));
  ASSERT_OK_AND_ASSIGN(NodeRecord second_before, store_->GetNode("web-02"));
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-02", 1001), admin_), IsOk());
  ASSERT_OK_AND_ASSIGN(NodeRecord first, store_->GetNode("web-01"));
  ASSERT_OK_AND_ASSIGN(NodeRecord second, store_->GetNode("web-02"));
  // web-01 lost alice yet its version grew (her departure counts one more
  // than her last version); web-02 gained her.
  EXPECT_GT(first.rule_version, first_before.rule_version);
  EXPECT_EQ(first.account_count, 0u);
  EXPECT_GT(second.rule_version, second_before.rule_version);
  EXPECT_EQ(second.account_count, 1u);
  EXPECT_EQ(Scalar("SELECT version FROM node_rule_departures WHERE node_id = 'web-01'"), 3);
}

TEST_F(PgAccountsStoreTest, DeleteNodeWithAccountsIsRefused) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-01", 1001), admin_), IsOk());
  EXPECT_THAT(store_->DeleteNode("web-01", admin_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("1 account")));
  ASSERT_THAT(store_->DeleteAccount("alice", admin_), IsOk());
  EXPECT_THAT(store_->DeleteNode("web-01", admin_), IsOk());
  EXPECT_THAT(store_->GetNode("web-01"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->DeleteNode("web-01", admin_), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(PgAccountsStoreTest, DeleteAccountRemovesItsDataAndKeepsTheAudit) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  AccountSpec alice = Account("alice", "web-01", 1001);
  alice.dedicated_ips = {{Ip("203.0.113.5"), absl::FromUnixSeconds(1700000000)}};
  ASSERT_THAT(store_->UpsertAccount(alice, admin_), IsOk());
  Scalar("SELECT egress_ensure_partitions('2026-01-01', 1)");
  Scalar(
      "WITH i AS (INSERT INTO connection_daily VALUES ('alice', '2026-01-02', '192.0.2.1', 6, "
      "443, 1, 5, now(), now()) RETURNING 1) SELECT count(*) FROM i");
  Scalar(
      "WITH i AS (INSERT INTO block_rules (account_id, network, protocol, port, created_by) "
      "VALUES ('alice', '192.0.2.1/32', 0, 0, 'test') RETURNING 1) SELECT count(*) FROM i");
  ASSERT_THAT(store_->DeleteAccount("alice", admin_), IsOk());
  EXPECT_THAT(store_->GetAccount("alice"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Scalar("SELECT count(*) FROM connection_daily"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM block_rules"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM dedicated_ips"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_log WHERE action = 'account.delete'"), 1);
  EXPECT_THAT(store_->DeleteAccount("alice", admin_), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(PgAccountsStoreTest, ListsPageByKey) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertNode(Node("web-02"), admin_), IsOk());
  for (uint32_t i = 0; i < 5; ++i) {
    ASSERT_THAT(store_->UpsertAccount(Account("acct-" + std::to_string(i),
                                              i % 2 == 0 ? "web-01" : "web-02", 2000 + i),
                                      admin_),
                IsOk());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<AccountRecord> page, store_->ListAccounts("", "acct-1", 2));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].spec.account_id, "acct-2");
  EXPECT_EQ(page[1].spec.account_id, "acct-3");
  ASSERT_OK_AND_ASSIGN(std::vector<AccountRecord> on_node, store_->ListAccounts("web-02", "", 10));
  ASSERT_EQ(on_node.size(), 2u);
  EXPECT_EQ(on_node[0].spec.account_id, "acct-1");
  ASSERT_OK_AND_ASSIGN(std::vector<NodeRecord> nodes, store_->ListNodes("web-01", 10));
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].spec.node_id, "web-02");
  EXPECT_EQ(nodes[0].account_count, 2u);
}

TEST_F(PgAccountsStoreTest, DatabaseDownIsUnavailable) {
  DatabaseOptions options;
  options.conninfo = "host=/nonexistent-socket-dir dbname=egress";
  EXPECT_THAT(Database::Connect(options), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(PgAccountsStoreTest, ALaterAccountWithTheSameIdSeesNoneOfTheEarliersHistory) {
  ASSERT_THAT(store_->UpsertNode(Node("web-01"), admin_), IsOk());
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-01", 1001), admin_), IsOk());
  PgRulesStore rules(database_.get());
  BlockRuleSpec spec;
  spec.network = IpNetwork::Host(Ip("203.0.113.7"));
  spec.protocol = Protocol::kTcp;
  spec.port = 25;
  spec.note = "the first alice's private note";
  ASSERT_THAT(rules.CreateBlockRule("alice", spec, Actor{"account:alice"}), IsOk());
  ASSERT_THAT(store_->DeleteAccount("alice", admin_), IsOk());
  // Another customer gets the id.
  ASSERT_THAT(store_->UpsertAccount(Account("alice", "web-01", 2002), admin_), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEventRecord> own,
                       rules.ListAuditEvents("alice", std::nullopt, 100, false));
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].action, "account.upsert");
  EXPECT_EQ(own[0].before_json, "");
  for (const AuditEventRecord& event : own) {
    EXPECT_THAT(event.after_json, Not(HasSubstr("private note")));
  }
  // Admins may still read everything that id ever did (forensics), also once
  // no account has it.
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEventRecord> all,
                       rules.ListAuditEvents("alice", std::nullopt, 100, true));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[1].action, "account.delete");
  EXPECT_EQ(all[2].action, "block_rule.create");
  EXPECT_THAT(all[2].after_json, HasSubstr("private note"));
  ASSERT_THAT(store_->DeleteAccount("alice", admin_), IsOk());
  EXPECT_THAT(rules.ListAuditEvents("alice", std::nullopt, 100, false),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(all, rules.ListAuditEvents("alice", std::nullopt, 100, true));
  EXPECT_EQ(all.size(), 5u);
}

}  // namespace
}  // namespace egress
