// PgRulesStore against a real PostgreSQL: account scoping, limits, the
// version bookkeeping and serialisation of concurrent changes.
#include "service/storage/pg_rules_store.h"

#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::DumpAllTables;
using ::egress::testing::FreshDatabase;
using ::egress::testing::StatusIs;
using ::testing::HasSubstr;

class PgRulesStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    options.pool_size = 8;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    store_ = std::make_unique<PgRulesStore>(database_.get());
    Sql("INSERT INTO nodes (node_id) VALUES ('n1'), ('n2');"
        "INSERT INTO accounts (account_id, node_id, uid) VALUES ('a1', 'n1', 1001), "
        "('a2', 'n2', 1002)");
  }

  pqxx::result Sql(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    pqxx::result result = work.exec(sql);
    work.commit();
    return result;
  }

  static BlockRuleSpec Spec(const std::string& network, Protocol protocol = Protocol::kTcp,
                            int port = 443) {
    BlockRuleSpec spec;
    spec.network = *IpNetwork::Parse(network);
    spec.protocol = protocol;
    spec.port = port;
    return spec;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgRulesStore> store_;
  const Actor actor_{"admin:test", ActorRole::kSupport};
};

TEST_F(PgRulesStoreTest, UnknownAccountsAreNotFoundAndNothingIsWritten) {
  const std::string before = DumpAllTables(conninfo_);
  EXPECT_THAT(store_->CreateBlockRule("nobody", Spec("192.0.2.1"), actor_),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->SetManualLock("nobody", true, actor_), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ReportScan("nobody", ScanReport{"s", absl::Now(), {}}, actor_),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->DeleteBlockRules("nobody", {1}, actor_),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->UpdateNote("nobody", 1, "x", actor_), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetAccountStatus("nobody"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ListBlockRules("nobody", std::nullopt, 10),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ListAuditEvents("nobody", std::nullopt, 10, false),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(DumpAllTables(conninfo_), before);
}

TEST_F(PgRulesStoreTest, ChangesBumpTheAccountVersionAndTheNodesSumOnly) {
  auto node_version = [this](const std::string& node) {
    return Sql("SELECT egress_node_rule_version('" + node + "')")[0][0].as<int64_t>();
  };
  auto account_version = [this](const std::string& account) {
    return Sql("SELECT rule_version FROM accounts WHERE account_id = '" + account + "'")[0][0]
        .as<int64_t>();
  };
  const int64_t node_before = node_version("n1");
  const int64_t other_node_before = node_version("n2");
  const int64_t a1_before = account_version("a1");
  const int64_t a2_before = account_version("a2");
  const int64_t config_before =
      Sql("SELECT config_version FROM nodes WHERE node_id = 'n1'")[0][0].as<int64_t>();
  ASSERT_OK_AND_ASSIGN(BlockRuleRecord rule,
                       store_->CreateBlockRule("a1", Spec("192.0.2.1"), actor_));
  EXPECT_EQ(account_version("a1"), a1_before + 1);
  EXPECT_EQ(node_version("n1"), node_before + 1);
  // No row shared with other writers was written: not the node's own
  // version, not another account's, not another node's.
  EXPECT_EQ(Sql("SELECT config_version FROM nodes WHERE node_id = 'n1'")[0][0].as<int64_t>(),
            config_before);
  EXPECT_EQ(account_version("a2"), a2_before);
  EXPECT_EQ(node_version("n2"), other_node_before);
  ASSERT_OK_AND_ASSIGN(RulesStore::DeleteResult deleted,
                       store_->DeleteBlockRules("a1", {rule.rule_id}, actor_));
  EXPECT_EQ(deleted.deleted, 1u);
  EXPECT_EQ(static_cast<int64_t>(deleted.rule_version), account_version("a1"));
  EXPECT_EQ(node_version("n1"), node_before + 2);
}

TEST_F(PgRulesStoreTest, ARuleForAnUnseenAddressQueuesItsLookup) {
  // Never reported by any node: no ip_info row until the rule asks for one.
  ASSERT_OK_AND_ASSIGN(BlockRuleRecord rule,
                       store_->CreateBlockRule("a1", Spec("192.0.2.77"), actor_));
  EXPECT_EQ(rule.ip_info.status, 1);  // pending
  EXPECT_EQ(Sql("SELECT count(*) FROM ip_info WHERE ip = '192.0.2.77' AND status = 1")[0][0]
                .as<int64_t>(),
            1);
  // A known address keeps what the enrichment found.
  Sql("INSERT INTO ip_info (ip, status, ptr) VALUES ('192.0.2.78', 2, 'mx.example.net')");
  ASSERT_OK_AND_ASSIGN(BlockRuleRecord known,
                       store_->CreateBlockRule("a1", Spec("192.0.2.78"), actor_));
  EXPECT_EQ(known.ip_info.ptr, "mx.example.net");
  // A network is not one address to look up.
  ASSERT_TRUE(store_->CreateBlockRule("a1", Spec("198.51.100.0/24"), actor_).ok());
  EXPECT_EQ(Sql("SELECT count(*) FROM ip_info WHERE ip <<= '198.51.100.0/24'")[0][0].as<int64_t>(),
            0);
}

TEST_F(PgRulesStoreTest, TheRuleLimitIsEnforced) {
  Sql("INSERT INTO block_rules (account_id, network, protocol, port, created_by) "
      "SELECT 'a1', ('10.' || (i / 65536) || '.' || (i / 256 % 256) || '.' || (i % 256))::cidr, "
      "6, 443, 'test' FROM generate_series(1, 10000) AS i");
  EXPECT_THAT(store_->CreateBlockRule("a1", Spec("192.0.2.1"), actor_),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("10000")));
  EXPECT_TRUE(store_->CreateBlockRule("a2", Spec("192.0.2.1"), actor_).ok());
  // Deleting 1,000 at once is one statement and one audit event.
  std::vector<uint64_t> ids;
  for (const pqxx::row& row :
       Sql("SELECT rule_id FROM block_rules WHERE account_id = 'a1' ORDER BY rule_id LIMIT 1000")) {
    ids.push_back(row[0].as<uint64_t>());
  }
  ASSERT_OK_AND_ASSIGN(RulesStore::DeleteResult deleted,
                       store_->DeleteBlockRules("a1", ids, actor_));
  EXPECT_EQ(deleted.deleted, 1000u);
  EXPECT_EQ(Sql("SELECT count(*) FROM audit_log WHERE account_id = 'a1'")[0][0].as<int>(), 1);
  EXPECT_EQ(Sql("SELECT jsonb_array_length(before) FROM audit_log WHERE account_id = 'a1'")[0][0]
                .as<int>(),
            1000);
}

TEST_F(PgRulesStoreTest, ConcurrentDuplicatesCreateExactlyOneRule) {
  std::atomic<int> created{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      absl::StatusOr<BlockRuleRecord> rule =
          store_->CreateBlockRule("a1", Spec("198.51.100.0/24", Protocol::kAny, 0), actor_);
      if (rule.ok()) ++created;
      if (rule.status().code() == absl::StatusCode::kAlreadyExists) ++duplicates;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(duplicates.load(), 7);
}

TEST_F(PgRulesStoreTest, ConcurrentLockChangesEndConsistent) {
  // Scans with threats race the owner's attempts to unlock: whatever the
  // interleaving, the antivirus lock ends in force and every unlock attempt
  // after it was refused.
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  const absl::Time t0 = absl::Now() - absl::Hours(1);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ScanReport report{"scan-" + std::to_string(t), t0 + absl::Seconds(t), {{"f.php", "sig"}}};
      EXPECT_TRUE(
          store_->ReportScan("a1", report, Actor{"antivirus:av", ActorRole::kAntivirus}).ok());
    });
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        absl::StatusOr<AccountStatusRecord> status =
            store_->SetManualLock("a1", i % 2 == 0, actor_);
        if (status.status().code() == absl::StatusCode::kFailedPrecondition) ++refused;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_OK_AND_ASSIGN(AccountStatusRecord status, store_->GetAccountStatus("a1"));
  bool antivirus = false;
  for (const LockRecord& lock : status.locks) {
    if (lock.kind == LockKind::kAntivirus) {
      antivirus = true;
      EXPECT_EQ(lock.scan_id, "scan-3");
    }
  }
  EXPECT_TRUE(antivirus);
  EXPECT_THAT(store_->SetManualLock("a1", false, actor_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("antivirus")));
}

TEST_F(PgRulesStoreTest, AuditPagesNewestFirstWithKeysets) {
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(store_->CreateBlockRule("a1", Spec("192.0.2." + std::to_string(i)), actor_).ok());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEventRecord> first,
                       store_->ListAuditEvents("a1", std::nullopt, 3, false));
  ASSERT_EQ(first.size(), 3u);
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEventRecord> rest,
                       store_->ListAuditEvents("a1", first.back().event_id, 3, false));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_GT(first[0].event_id, first[1].event_id);
  EXPECT_GT(first[2].event_id, rest[0].event_id);
  EXPECT_EQ(first[0].actor, "admin:test");
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEventRecord> other,
                       store_->ListAuditEvents("a2", std::nullopt, 3, false));
  EXPECT_TRUE(other.empty());
}

}  // namespace
}  // namespace egress
