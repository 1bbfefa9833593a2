// PgCollectorStore::LoadRuleSetChanges against a real PostgreSQL, with the
// real stores making the changes: a partial rule set holds exactly the
// accounts whose rules changed since the base an agent stream holds and
// names those that left the node; nothing changed gives nothing; a change
// of the node's own settings gives every account; its version is the full
// rule set's.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/storage/pg_accounts_store.h"
#include "service/storage/pg_collector_store.h"
#include "service/storage/pg_rules_store.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::FreshDatabase;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const Actor kAdmin{"admin:test", ActorRole::kSupport};

std::vector<std::string> AccountIds(const NodeRuleSet& rule_set) {
  std::vector<std::string> ids;
  for (const AccountRuleSet& account : rule_set.accounts) ids.push_back(account.account_id);
  return ids;
}

RuleSetBase BaseOf(const NodeRuleSet& rule_set) {
  RuleSetBase base;
  base.version = rule_set.version;
  base.config_version = rule_set.config_version;
  for (const AccountRuleSet& account : rule_set.accounts) {
    base.account_versions[account.account_id] = account.version;
  }
  return base;
}

class PgRuleSetChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.conninfo = FreshDatabase();
    options.pool_size = 4;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    accounts_ = std::make_unique<PgAccountsStore>(database_.get());
    rules_ = std::make_unique<PgRulesStore>(database_.get());
    collector_ = std::make_unique<PgCollectorStore>(database_.get());
    node_.node_id = "n1";
    node_.server_ipv4 = *IpAddress::Parse("192.0.2.1");
    ASSERT_OK(accounts_->UpsertNode(node_, kAdmin).status());
    for (int i = 1; i <= 3; ++i) {
      AccountSpec account;
      account.account_id = "a" + std::to_string(i);
      account.node_id = "n1";
      account.uid = 1000 + i;
      ASSERT_OK(accounts_->UpsertAccount(account, kAdmin).status());
    }
    ASSERT_OK(Block("a1", "203.0.113.1"));
  }

  absl::Status Block(const std::string& account_id, const std::string& address) {
    BlockRuleSpec spec;
    spec.network = IpNetwork::Host(*IpAddress::Parse(address));
    spec.protocol = Protocol::kTcp;
    spec.port = 25;
    return rules_->CreateBlockRule(account_id, spec, kAdmin).status();
  }

  NodeSpec node_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgAccountsStore> accounts_;
  std::unique_ptr<PgRulesStore> rules_;
  std::unique_ptr<PgCollectorStore> collector_;
};

TEST_F(PgRuleSetChangesTest, HoldsOnlyWhatChangedSinceTheBase) {
  ASSERT_OK_AND_ASSIGN(const NodeRuleSet full, collector_->LoadRuleSet("n1"));
  ASSERT_THAT(AccountIds(full), ElementsAre("a1", "a2", "a3"));
  const RuleSetBase base = BaseOf(full);

  ASSERT_OK_AND_ASSIGN(NodeRuleSet none, collector_->LoadRuleSetChanges("n1", base));
  EXPECT_TRUE(none.partial);
  EXPECT_EQ(none.version, full.version);
  EXPECT_THAT(none.accounts, IsEmpty());
  EXPECT_THAT(none.removed_accounts, IsEmpty());

  ASSERT_OK(Block("a2", "203.0.113.2"));
  ASSERT_OK(accounts_->DeleteAccount("a3", kAdmin));
  ASSERT_OK_AND_ASSIGN(NodeRuleSet changes, collector_->LoadRuleSetChanges("n1", base));
  ASSERT_OK_AND_ASSIGN(const NodeRuleSet now, collector_->LoadRuleSet("n1"));
  EXPECT_TRUE(changes.partial);
  EXPECT_GT(changes.version, base.version);
  EXPECT_EQ(changes.version, now.version);
  EXPECT_THAT(changes.exempt_networks, IsEmpty());
  ASSERT_THAT(AccountIds(changes), ElementsAre("a2"));
  const AccountRuleSet& a2 = changes.accounts[0];
  EXPECT_EQ(a2.uid, 1002u);
  EXPECT_EQ(a2.version, now.accounts[1].version);
  ASSERT_EQ(a2.rules.size(), 1u);
  EXPECT_EQ(a2.rules[0].network.ToString(), "203.0.113.2/32");
  EXPECT_EQ(a2.rules[0].port, 25);
  ASSERT_TRUE(a2.egress_ipv4.has_value());
  EXPECT_EQ(a2.egress_ipv4->ToString(), "192.0.2.1");
  EXPECT_THAT(changes.removed_accounts, ElementsAre("a3"));
}

TEST_F(PgRuleSetChangesTest, ANewSettingOfTheNodeGivesEveryAccount) {
  ASSERT_OK_AND_ASSIGN(const NodeRuleSet full, collector_->LoadRuleSet("n1"));
  node_.exempt_networks.push_back(*IpNetwork::Parse("10.0.0.0/8"));
  ASSERT_OK(accounts_->UpsertNode(node_, kAdmin).status());
  ASSERT_OK_AND_ASSIGN(NodeRuleSet changes, collector_->LoadRuleSetChanges("n1", BaseOf(full)));
  EXPECT_FALSE(changes.partial);
  EXPECT_GT(changes.config_version, full.config_version);
  EXPECT_THAT(AccountIds(changes), ElementsAre("a1", "a2", "a3"));
  ASSERT_EQ(changes.exempt_networks.size(), 1u);
  EXPECT_EQ(changes.exempt_networks[0].ToString(), "10.0.0.0/8");
  EXPECT_EQ(changes.accounts[0].rules.size(), 1u);
  EXPECT_THAT(changes.removed_accounts, IsEmpty());
}

TEST_F(PgRuleSetChangesTest, AnUnknownNodeIsNotFound) {
  EXPECT_EQ(collector_->LoadRuleSetChanges("n9", RuleSetBase()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace egress
