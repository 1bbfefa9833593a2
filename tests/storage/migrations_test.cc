// Migrations against a real PostgreSQL: applied once, idempotent, and the
// resulting schema has what the design needs.
#include "service/storage/migrations.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::SharedCluster;
using ::egress::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    name_ = "empty_" + std::to_string(++counter);
    ASSERT_OK(SharedCluster().CreateDatabase(name_));
    DatabaseOptions options;
    options.conninfo = SharedCluster().ConnectionString(name_);
    options.pool_size = 2;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
  }

  pqxx::result Query(const std::string& sql) {
    pqxx::connection connection(SharedCluster().ConnectionString(name_));
    pqxx::nontransaction work(connection);
    return work.exec(sql);
  }

  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> values;
    for (const auto& row : Query(sql)) values.push_back(row[0].as<std::string>());
    return values;
  }

  std::string name_;
  std::unique_ptr<Database> database_;
};

TEST_F(MigrationsTest, AppliesEveryMigrationOnceAndRecordsIt) {
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  ASSERT_OK_AND_ASSIGN(MigrationReport first, ApplyMigrations(*database_, migrations));
  EXPECT_EQ(first.applied, static_cast<int>(migrations.size()));
  EXPECT_EQ(first.schema_version, migrations.back().version);

  ASSERT_OK_AND_ASSIGN(MigrationReport second, ApplyMigrations(*database_, migrations));
  EXPECT_EQ(second.applied, 0);
  EXPECT_EQ(second.schema_version, migrations.back().version);
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations")[0][0].as<size_t>(), migrations.size());
}

TEST_F(MigrationsTest, SchemaCoversTheDesign) {
  ASSERT_THAT(ApplyMigrations(*database_, EmbeddedMigrations()), IsOk());
  EXPECT_THAT(
      Column("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
      IsSupersetOf({"nodes", "accounts", "dedicated_ips", "connection_daily", "account_day_totals",
                    "node_day_losses", "ip_info", "block_rules", "account_locks", "antivirus_scans",
                    "audit_log", "ingest_sequences", "schema_migrations"}));
  // The aggregates are range-partitioned by day.
  EXPECT_EQ(Query("SELECT partstrat FROM pg_partitioned_table "
                  "WHERE partrelid = 'connection_daily'::regclass")[0][0]
                .as<std::string>(),
            "r");
  // Every account-scoped table leads its primary key with account_id (Citus
  // distribution column, and every hot query keyed by account).
  for (const std::string table :
       {"connection_daily", "account_day_totals", "block_rules", "account_locks", "antivirus_scans",
        "audit_log", "dedicated_ips"}) {
    EXPECT_EQ(Query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                    "i.indrelid AND a.attnum = i.indkey[0] WHERE i.indisprimary AND "
                    "i.indrelid = '" +
                    table + "'::regclass")[0][0]
                  .as<std::string>(),
              "account_id")
        << table;
  }
  // No index on count/first_seen/last_seen (they would cost HOT updates).
  EXPECT_EQ(Query("SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                  "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = "
                  "'connection_daily'::regclass AND a.attname IN ('count', 'first_seen', "
                  "'last_seen')")[0][0]
                .as<int>(),
            0);
}

TEST_F(MigrationsTest, PartitionsAreCreatedAheadAndDroppedPastRetention) {
  ASSERT_THAT(ApplyMigrations(*database_, EmbeddedMigrations()), IsOk());
  EXPECT_EQ(Query("SELECT egress_ensure_partitions('2026-01-15', 3)")[0][0].as<int>(), 3);
  // Idempotent.
  EXPECT_EQ(Query("SELECT egress_ensure_partitions('2026-01-01', 3)")[0][0].as<int>(), 0);
  EXPECT_THAT(Column("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE i.inhparent = 'connection_daily'::regclass ORDER BY 1"),
              ::testing::ElementsAre("connection_daily_202601", "connection_daily_202602",
                                     "connection_daily_202603"));
  Query(
      "INSERT INTO connection_daily VALUES ('a', '2026-02-10', '192.0.2.1', 6, 443, 1, 1, "
      "now(), now())");
  // A day without a partition is refused, not silently stored elsewhere.
  EXPECT_THROW(Query("INSERT INTO connection_daily VALUES ('a', '2026-07-10', '192.0.2.1', 6, "
                     "443, 1, 1, now(), now())"),
               pqxx::sql_error);
  EXPECT_EQ(Query("SELECT egress_drop_partitions_before('2026-03-01')")[0][0].as<int>(), 2);
  EXPECT_THAT(Column("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE i.inhparent = 'connection_daily'::regclass"),
              ::testing::ElementsAre("connection_daily_202603"));
  EXPECT_EQ(Query("SELECT count(*) FROM connection_daily")[0][0].as<int>(), 0);
}

TEST_F(MigrationsTest, AFailingMigrationLeavesNothingBehind) {
  std::vector<Migration> migrations = EmbeddedMigrations();
  ASSERT_THAT(ApplyMigrations(*database_, migrations), IsOk());
  migrations.push_back(
      {9999, "9999_broken", "CREATE TABLE half_done (x int); SELECT no_such_function();"});
  EXPECT_THAT(ApplyMigrations(*database_, migrations),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("9999_broken")));
  EXPECT_EQ(Query("SELECT to_regclass('half_done') IS NULL")[0][0].as<bool>(), true);
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations WHERE version = 9999")[0][0].as<int>(),
            0);
}

TEST_F(MigrationsTest, RefusesOutOfOrderVersions) {
  std::vector<Migration> migrations = {{2, "0002_b", "SELECT 1"}, {1, "0001_a", "SELECT 1"}};
  EXPECT_THAT(ApplyMigrations(*database_, migrations), StatusIs(absl::StatusCode::kInternal));
}

TEST_F(MigrationsTest, ConcurrentReplicasApplyEachMigrationOnce) {
  std::vector<std::thread> replicas;
  std::vector<absl::StatusOr<MigrationReport>> reports(4, absl::UnknownError("not run"));
  for (size_t i = 0; i < reports.size(); ++i) {
    replicas.emplace_back(
        [&, i] { reports[i] = ApplyMigrations(*database_, EmbeddedMigrations()); });
  }
  for (auto& replica : replicas) replica.join();
  int applied = 0;
  for (const auto& report : reports) {
    ASSERT_THAT(report, IsOk());
    applied += report->applied;
  }
  EXPECT_EQ(applied, static_cast<int>(EmbeddedMigrations().size()));
}

}  // namespace
}  // namespace egress
